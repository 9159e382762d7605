// Live events over Socket.IO: one connection per page, authenticated by the session cookie; the server puts
// it in this user's rooms only. Pages register handlers with window.cc.on(kind, fn).
(function () {
  "use strict";
  var KINDS = ["call_state", "transcript", "partial", "proposal", "recording", "question", "alert", "queue_changed",
               "notice"];
  var handlers = {};
  var conn = document.getElementById("conn");
  var socket = io({ transports: ["websocket", "polling"] });

  function setConn(state, text) {
    if (!conn) return;
    conn.dataset.state = state;
    conn.textContent = text;
  }

  function toast(text) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast";
    el.textContent = text;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, 8000);
  }

  socket.on("connect", function () {
    setConn("connected", "已连接");
    (handlers["_connect"] || []).forEach(function (fn) { fn(); });
  });
  socket.on("disconnect", function () { setConn("disconnected", "连接中断"); });
  socket.on("connect_error", function () { setConn("disconnected", "无法连接"); });

  KINDS.forEach(function (kind) {
    socket.on(kind, function (data) {
      var list = handlers[kind] || [];
      list.forEach(function (fn) { fn(data || {}); });
      if (kind === "notice" && data && data.text) toast(data.text);
      if (kind === "alert") toast("新预警：" + (data && data.severity ? data.severity : ""));
    });
  });

  window.cc = {
    socket: socket,
    toast: toast,
    on: function (kind, fn) { (handlers[kind] = handlers[kind] || []).push(fn); },
    onConnect: function (fn) {
      (handlers["_connect"] = handlers["_connect"] || []).push(fn);
      if (socket.connected) fn();
    }
  };
})();
