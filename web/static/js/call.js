// The call screen: follows the call attempt's room, shows the live transcript and the proposed answer for the
// current question. Keyboard first: Enter accepts the proposal (or confirms what was typed), 1–9 pick an option.
(function () {
  "use strict";
  var column = document.getElementById("form-column");
  var list = document.getElementById("transcript");
  var empty = document.getElementById("transcript-empty");
  var state = document.getElementById("call-state");
  var current = null; // the proposal on screen
  var latest = {}; // the last proposal per question, so one that arrives just before the form moves is kept
  var STATES = { calling: "呼叫中", early: "振铃", connecting: "接通中", confirmed: "通话中", held: "保持",
                 disconnected: "已挂断", failed: "呼叫失败" };

  function $(id) { return document.getElementById(id); }
  function attemptId() { return column && column.dataset.attemptId; }
  function questionId() { var q = $("question"); return q ? q.dataset.itemId : null; }

  function fmt(t) {
    var s = Math.max(0, Math.floor(t || 0));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function addLine(data, partial) {
    if (empty) empty.hidden = true;
    var speaker = data.speaker || "patient";
    var li = partial ? list.querySelector("li.partial.speaker-" + speaker) : null;
    if (!partial) {
      var stale = list.querySelector("li.partial.speaker-" + speaker);
      if (stale) stale.remove();
    }
    if (!li) { li = document.createElement("li"); list.appendChild(li); }
    li.className = "speaker-" + speaker + (partial ? " partial" : "");
    li.textContent = "";
    var t = document.createElement("span");
    t.className = "t";
    t.textContent = (speaker === "patient" ? "患者 " : "护士 ") + (partial ? "" : fmt(data.t0_s));
    li.appendChild(t);
    li.appendChild(document.createTextNode(data.text || ""));
    list.scrollTop = list.scrollHeight;
  }

  function display(value) {
    if (value && typeof value === "object" && "systolic" in value) return value.systolic + "/" + value.diastolic;
    if (Array.isArray(value)) return value.join("、");
    return String(value);
  }

  function showProposal(d) {
    var box = $("proposal");
    if (!box || (d.item_id && questionId() && d.item_id !== questionId())) return; // for another question
    current = d;
    $("proposal-value").textContent = d.text ? d.text + "（" + display(d.value) + "）" : display(d.value);
    $("proposal-confidence").textContent = " 置信度 " + Math.round((d.confidence || 0) * 100) + "%" +
      (d.needs_confirmation ? " · 请确认" : "");
    box.dataset.closedAt = d.closed_at || "";  // when the recogniser closed the utterance (latency bench)
    box.hidden = false;
    var option = document.querySelector('#answer-form [name="value"][value="' + String(d.value) + '"]');
    document.querySelectorAll("#answer-form .proposed").forEach(function (el) { el.classList.remove("proposed"); });
    if (option) option.classList.add("proposed");
    var input = $("answer-value");
    if (input && !input.value) input.placeholder = display(d.value);
  }

  function submitForm(form) {
    if (window.htmx) window.htmx.trigger(form, "submit"); else form.requestSubmit();
  }

  function acceptProposal() {
    var form = $("answer-form");
    if (!form || !current) return false;
    form.elements["source"].value = "asr";
    form.elements["confidence"].value = current.confidence == null ? "" : current.confidence;
    form.elements["t0_s"].value = current.t0_s == null ? "" : current.t0_s;
    form.elements["t1_s"].value = current.t1_s == null ? "" : current.t1_s;
    form.elements["heard"].value = current.text || "";
    form.elements["value_json"].value = JSON.stringify(current.value);
    delete latest[current.item_id];
    current = null;
    submitForm(form);
    return true;
  }

  // Speech recognition of this call stopped (its worker restarts, or no model serves the language) or is back:
  // while it is out no proposal comes, and the nurse types the answers.
  var SPEECH = { restarting: "语音识别重启中，请手动录入", no_model: "本次通话没有语音识别，请手动录入",
                 model_failed: "语音识别模型加载失败，请手动录入" };

  function showSpeech(d) {
    var notice = $("speech-notice");
    if (!notice) return;
    notice.dataset.code = d.code || "";
    notice.textContent = d.available ? "" : (SPEECH[d.code] || "语音识别不可用，请手动录入");
    notice.hidden = !!d.available;
  }

  var stateFromEvent = false; // a live call_state event is newer than what the server knew when we joined

  function showState(value) {
    state.dataset.state = value;
    state.textContent = STATES[value] || value;
  }

  function follow() {
    var id = attemptId();
    if (!id || !window.cc) return;
    window.cc.socket.emit("follow_attempt", { attempt_id: Number(id) }, function (reply) {
      // events sent before this page joined the call's room are not replayed: take the known state
      if (reply && reply.state && !stateFromEvent) showState(reply.state);
    });
  }

  function mine(data) { return !attemptId() || String(data.attempt_id) === String(attemptId()); }

  if (window.cc) {
    window.cc.onConnect(follow);
    window.cc.on("transcript", function (d) { if (mine(d)) addLine(d, false); });
    window.cc.on("partial", function (d) { if (mine(d)) addLine(d, true); });
    window.cc.on("proposal", function (d) {
      if (!mine(d)) return;
      if (d.item_id) latest[d.item_id] = d;
      showProposal(d);
    });
    window.cc.on("recording", function (d) {
      if (!mine(d) || !d.recording_id) return;
      var link = document.createElement("a");
      link.href = "/recordings/" + d.recording_id;
      link.id = "recording-link";
      link.textContent = "通话录音已保存，点击播放";
      list.parentNode.appendChild(link);
    });
    window.cc.on("call_state", function (d) {
      if (!mine(d)) return;
      stateFromEvent = true;
      showState(d.state);
    });
    window.cc.on("speech", function (d) { if (mine(d)) showSpeech(d); });
  }

  var phoneSelect = $("phone_id");
  if (phoneSelect && $("wrap-up-phone")) {
    $("wrap-up-phone").value = phoneSelect.value;
    phoneSelect.addEventListener("change", function () { $("wrap-up-phone").value = phoneSelect.value; });
  }

  document.body.addEventListener("htmx:afterSwap", function () {
    current = null;
    var waiting = latest[questionId()];
    if (waiting) showProposal(waiting);
    var input = $("answer-value");
    if (input) input.focus();
  });
  // A refused answer leaves the form on screen: what speech filled in must not ride along with the nurse's
  // correction (the refused proposal's value_json would be sent again instead of what she typed or clicked).
  document.body.addEventListener("htmx:afterRequest", function () {
    var form = $("answer-form");
    if (!form) return;
    form.elements["source"].value = "nurse";
    ["confidence", "t0_s", "t1_s", "heard", "value_json"].forEach(function (name) { form.elements[name].value = ""; });
  });
  document.body.addEventListener("htmx:responseError", function (ev) {
    var text = ev.detail && ev.detail.xhr ? ev.detail.xhr.responseText : "";
    var match = /<p>([^<]+)<\/p>/.exec(text || "");
    if (window.cc) window.cc.toast("未保存：" + (match ? match[1] : "请检查答案"));
  });

  document.addEventListener("keydown", function (ev) {
    var target = ev.target || {};
    var tag = target.tagName || "";
    var form = $("answer-form");
    if (!form || tag === "TEXTAREA" || tag === "SELECT") return;
    var inAnswer = target.id === "answer-value";
    if (tag === "INPUT" && !inAnswer) return;
    if (ev.key === "Enter") {
      if (current && (!inAnswer || !target.value)) { ev.preventDefault(); acceptProposal(); return; }
      if (!inAnswer && $("deliver")) { ev.preventDefault(); $("deliver").click(); }
      return; // typing + Enter in the answer field submits the form normally (a correction by the nurse)
    }
    if (!inAnswer && /^[1-9]$/.test(ev.key)) {
      var option = form.querySelector('[data-key="' + ev.key + '"]');
      if (!option) return;
      ev.preventDefault();
      if (option.type === "checkbox") option.checked = !option.checked; else option.click();
    }
  });
})();
