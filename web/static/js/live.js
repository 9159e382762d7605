// Live events over Socket.IO: one connection per page, authenticated by the session cookie; the server puts
// it in this user's rooms only. Pages register handlers with window.cc.on(kind, fn).
(function () {
  "use strict";
  var KINDS = ["call_state", "transcript", "partial", "proposal", "recording", "speech", "question", "alert",
               "queue_changed", "notice", "incoming_call", "incoming_ended", "session_ended"];
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
      if (kind === "alert") {
        toast(data && data.escalated ? "预警超时未确认，已升级" : "新预警：" + (data && data.severity ? data.severity : ""));
      }
    });
  });

  // A call in (every one is filed, a caller nobody knows too): the banner (with the caller's name) comes from the
  // server over HTTP; the event has ids.
  var ringing = {}; // call_ref -> banner element
  function ring(d) {
    if (!d.call_ref || !d.attempt_id || ringing[d.call_ref]) return;
    var holder = document.createElement("div");
    holder.className = "incoming-holder";
    ringing[d.call_ref] = holder;
    document.body.appendChild(holder);
    fetch("/workspace/incoming?attempt_id=" + encodeURIComponent(d.attempt_id), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!ringing[d.call_ref]) return; // stopped ringing meanwhile
        holder.innerHTML = html;
        var answer = document.getElementById("incoming-answer");
        if (answer) answer.focus();
      });
    socket.emit("follow_attempt", { attempt_id: d.attempt_id }); // to see it stop ringing
  }
  function stopRinging(callRef) {
    var holder = ringing[callRef];
    if (holder) holder.remove();
    delete ringing[callRef];
  }
  // The account was deactivated: stop reconnecting (the server refuses) and leave for the login page.
  socket.on("session_ended", function () {
    socket.io.reconnection(false);
    socket.disconnect();
    window.location.assign("/login");
  });
  socket.on("incoming_call", ring);
  socket.on("incoming_ended", function (d) { stopRinging(d.call_ref); });
  socket.on("call_state", function (d) {
    if (d.state !== "disconnected" && d.state !== "confirmed" && d.state !== "failed") return;
    Object.keys(ringing).forEach(function (ref) {
      var banner = ringing[ref].querySelector(".incoming-call");
      if (banner && banner.dataset.attemptId === String(d.attempt_id)) stopRinging(ref);
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
