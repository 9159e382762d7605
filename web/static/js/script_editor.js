// The doctor's script editor: line numbers, the checker's findings at their lines as one types (debounced POST
// to the check endpoint), the nurse's-eye preview and the simulator (server-rendered fragments).
(function () {
  "use strict";
  var form = document.getElementById("script-form");
  if (!form) return;
  var source = document.getElementById("source");
  var gutter = document.getElementById("gutter");
  var notes = document.getElementById("notes");
  var list = document.getElementById("problems");
  var status = document.getElementById("check-status");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var LINE_PX = 20; // keep in step with .editor line-height in doctor.css
  var timer = null;
  var seq = 0;
  var findings = [];

  function render() {
    var count = source.value.split("\n").length;
    var bad = {};
    findings.forEach(function (f) { (bad[f.line] = bad[f.line] || []).push(f); });
    var rows = [];
    for (var n = 1; n <= count; n++) {
      var cls = bad[n] ? " has-" + (bad[n].some(function (f) { return f.severity === "error"; }) ? "error" : "warning") : "";
      rows.push('<div class="ln' + cls + '" data-line="' + n + '">' + n + "</div>");
    }
    gutter.innerHTML = rows.join("");
    notes.innerHTML = "";
    list.innerHTML = "";
    findings.forEach(function (f) {
      var note = document.createElement("div");
      note.className = "note " + f.severity;
      note.dataset.line = f.line;
      note.style.top = ((f.line - 1) * LINE_PX) + "px";
      note.textContent = f.line + ":" + f.column + " " + f.message;
      notes.appendChild(note);
      var li = document.createElement("li");
      li.className = "problem " + f.severity;
      li.dataset.line = f.line;
      li.textContent = form.dataset.key + ":" + f.text;
      li.addEventListener("click", function () { goTo(f.line); });
      list.appendChild(li);
    });
    var errors = findings.filter(function (f) { return f.severity === "error"; }).length;
    status.dataset.state = errors ? "error" : "ok";
    status.textContent = findings.length ? (findings.length + " 条检查提示" + (errors ? "（" + errors + " 个错误，不能发布）" : "")) : "检查通过";
    document.getElementById("publish").disabled = errors > 0;
    sync();
  }

  function sync() {
    gutter.style.transform = "translateY(" + (-source.scrollTop) + "px)";
    notes.style.transform = "translateY(" + (-source.scrollTop) + "px)";
  }

  function goTo(line) {
    var lines = source.value.split("\n");
    var at = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    source.focus();
    source.setSelectionRange(at, at);
    source.scrollTop = Math.max(0, (line - 3) * LINE_PX);
  }

  function check() {
    var mine = ++seq;
    fetch(form.dataset.check, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify({ source: source.value })
    }).then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        if (mine !== seq) return; // an older answer arriving late
        findings = data.problems;
        document.getElementById("speech-check").textContent = (data.speech || []).join("；");
        render();
        form.dataset.checked = String(mine);
      })
      .catch(function () { status.dataset.state = "unknown"; status.textContent = "检查服务暂不可用"; });
  }

  function post(url, target, extra) {
    var body = new URLSearchParams();
    body.set("source", source.value);
    Object.keys(extra || {}).forEach(function (k) { body.set(k, extra[k]); });
    fetch(url, { method: "POST", credentials: "same-origin", body: body,
                 headers: { "X-CSRFToken": csrf, "Accept": "text/html" } })
      .then(function (r) { return r.text().then(function (t) { return { ok: r.ok, text: t }; }); })
      .then(function (res) {
        if (res.ok) { target.innerHTML = res.text; return; }
        var doc = new DOMParser().parseFromString(res.text, "text/html");
        var msg = doc.querySelector(".error-page p");
        target.textContent = msg ? msg.textContent : "出错了";
      });
  }

  source.addEventListener("input", function () {
    render(); // line numbers follow at once; findings after the pause
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
  source.addEventListener("scroll", sync);
  source.addEventListener("keydown", function (e) {
    if (e.key === "Tab") { // indent with two spaces (YAML has no tabs)
      e.preventDefault();
      var s = source.selectionStart;
      source.setRangeText("  ", s, source.selectionEnd, "end");
      source.dispatchEvent(new Event("input"));
    }
  });
  document.getElementById("show-preview").addEventListener("click", function () {
    post(form.dataset.preview, document.getElementById("preview"));
  });
  document.getElementById("run-simulation").addEventListener("click", function () {
    post(form.dataset.simulate, document.getElementById("simulation"),
         { answers: document.getElementById("answers").value });
  });
  check();
})();
