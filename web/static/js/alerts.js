// The doctors' alerts inbox: an ``alert`` event in the doctors' room reloads the list (events carry ids only).
(function () {
  "use strict";
  var box = document.getElementById("alerts-box");
  if (!box || !window.cc) return;
  var pending = null;

  function reload() {
    pending = null;
    if (box.querySelector(".ack-form input[name=note]:focus")) { pending = setTimeout(reload, 1000); return; } // don't eat a note being typed
    fetch(box.dataset.fragment, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        box.innerHTML = html;
        if (window.htmx) window.htmx.process(box);
        box.dataset.loaded = String(Date.now());
      })
      .catch(function () { window.cc.toast("预警列表刷新失败"); });
  }

  function schedule() {
    if (pending === null) pending = setTimeout(reload, 150);
  }

  window.cc.on("alert", schedule);
  window.cc.onConnect(schedule); // catch up on alerts raised while disconnected
  setInterval(schedule, 60000); // escalations are made by the scheduler process, which emits no event
})();
