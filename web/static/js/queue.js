// Queue: keyboard first. Arrow keys move between rows, Enter starts the selected task.
// When the queue changes (a queue_changed event: supervisors get them as nurses and robots work), the page says so
// and reloads itself once nobody has touched it for a few seconds, so a reload never takes the row from under the
// user's fingers; "刷新" reloads at once.
(function () {
  "use strict";
  var queue = document.getElementById("queue");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#queue .queue-row"));
  if (rows.length) rows[0].focus();
  rows.forEach(function (row, i) {
    row.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowDown" && rows[i + 1]) { rows[i + 1].focus(); ev.preventDefault(); }
      if (ev.key === "ArrowUp" && rows[i - 1]) { rows[i - 1].focus(); ev.preventDefault(); }
      if (ev.key === "Enter" && ev.target === row) { row.querySelector("form").submit(); ev.preventDefault(); }
    });
  });

  var IDLE_MS = 5000;
  var lastInput = Date.now();
  var stale = false;
  var notice = document.getElementById("queue-stale");
  ["keydown", "mousedown", "mousemove", "wheel", "touchstart"].forEach(function (kind) {
    document.addEventListener(kind, function () { lastInput = Date.now(); }, { passive: true, capture: true });
  });
  if (notice) {
    notice.querySelector("button").addEventListener("click", function () { window.location.reload(); });
  }
  if (window.cc) {
    window.cc.on("queue_changed", function () {
      stale = true;
      if (notice) notice.hidden = false;
      if (queue) queue.setAttribute("data-stale", "true");
    });
  }
  window.setInterval(function () {
    if (stale && Date.now() - lastInput >= IDLE_MS) window.location.reload();
  }, 500);
  // Keys are handled from here on: a key pressed before this line would be lost, so tests (and any automation)
  // wait for this mark before driving the queue with the keyboard.
  if (queue) queue.setAttribute("data-ready", "true");
})();
