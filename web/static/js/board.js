// The supervisors' live board: any call or queue event in the supervisors' room reloads the board fragment
// (events carry ids only; what is shown comes from the server). Reloads are coalesced; the server throttles its
// queue_changed events (callcenter.board_push), and the board also reloads every minute while it is shown.
(function () {
  "use strict";
  var box = document.getElementById("board");
  if (!box || !window.cc) return;
  var pending = null;
  var busy = false;

  function reload() {
    pending = null;
    if (busy) { schedule(); return; }
    busy = true;
    fetch(box.dataset.fragment, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { box.innerHTML = html; box.dataset.loaded = String(Date.now()); })
      .catch(function () { window.cc.toast("看板刷新失败"); })
      .finally(function () { busy = false; });
  }

  function schedule() {
    if (pending === null) pending = setTimeout(reload, 150);
  }

  ["call_state", "queue_changed", "alert"].forEach(function (kind) { window.cc.on(kind, schedule); });
  window.cc.onConnect(schedule); // catch up on whatever happened while disconnected
  // Safety net: a slow reload of its own (a change told by no event, or an event lost), only while shown.
  var SAFETY_MS = 60000;
  setInterval(function () { if (!document.hidden) schedule(); }, SAFETY_MS);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(); });
})();
