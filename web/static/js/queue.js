// Queue: keyboard first. Arrow keys move between rows, Enter starts the selected task.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("#queue .queue-row"));
  if (!rows.length) return;
  rows[0].focus();
  rows.forEach(function (row, i) {
    row.addEventListener("keydown", function (ev) {
      if (ev.key === "ArrowDown" && rows[i + 1]) { rows[i + 1].focus(); ev.preventDefault(); }
      if (ev.key === "ArrowUp" && rows[i - 1]) { rows[i - 1].focus(); ev.preventDefault(); }
      if (ev.key === "Enter" && ev.target === row) { row.querySelector("form").submit(); ev.preventDefault(); }
    });
  });
  if (window.cc) {
    window.cc.on("queue_changed", function () { window.location.reload(); });
  }
  // Keys are handled from here on: a key pressed before this line would be lost, so tests (and any automation)
  // wait for this mark before driving the queue with the keyboard.
  document.getElementById("queue").setAttribute("data-ready", "true");
})();
