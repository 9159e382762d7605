// The call screen: follows the call attempt's room, shows the live transcript and the proposed answer;
// Enter accepts the proposal (keyboard first), typing corrects it.
(function () {
  "use strict";
  var column = document.getElementById("form-column");
  var list = document.getElementById("transcript");
  var empty = document.getElementById("transcript-empty");
  var proposal = document.getElementById("proposal");
  var answer = document.getElementById("answer-value");
  var state = document.getElementById("call-state");
  var current = null;
  var STATES = { calling: "呼叫中", early: "振铃", connecting: "接通中", confirmed: "通话中", held: "保持",
                 disconnected: "已挂断" };

  function attemptId() { return column && column.dataset.attemptId; }

  function fmt(t) {
    var s = Math.max(0, Math.floor(t || 0));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function addLine(data, partial) {
    if (empty) empty.hidden = true;
    var speaker = data.speaker || "patient";
    var li = partial ? list.querySelector("li.partial.speaker-" + speaker) : null;
    if (!li) {
      li = document.createElement("li");
      list.appendChild(li);
    }
    li.className = "speaker-" + speaker + (partial ? " partial" : "");
    li.innerHTML = "";
    var t = document.createElement("span");
    t.className = "t";
    t.textContent = (speaker === "patient" ? "患者 " : "护士 ") + (partial ? "" : fmt(data.t0_s));
    li.appendChild(t);
    li.appendChild(document.createTextNode(data.text || ""));
    if (!partial) {
      var stale = list.querySelector("li.partial.speaker-" + speaker);
      if (stale) stale.remove();
    }
    list.scrollTop = list.scrollHeight;
  }

  function follow() {
    var id = attemptId();
    if (id && window.cc) window.cc.socket.emit("follow_attempt", { attempt_id: Number(id) });
  }

  function mine(data) { return !attemptId() || String(data.attempt_id) === String(attemptId()); }

  if (window.cc) {
    window.cc.onConnect(follow);
    window.cc.on("transcript", function (d) { if (mine(d)) addLine(d, false); });
    window.cc.on("partial", function (d) { if (mine(d)) addLine(d, true); });
    window.cc.on("call_state", function (d) {
      if (!mine(d)) return;
      state.dataset.state = d.state;
      state.textContent = STATES[d.state] || d.state;
    });
    window.cc.on("proposal", function (d) {
      if (!mine(d)) return;
      current = d;
      document.getElementById("proposal-value").textContent = d.text || String(d.value);
      document.getElementById("proposal-confidence").textContent =
        "置信度 " + Math.round((d.confidence || 0) * 100) + "%" + (d.needs_confirmation ? " · 请确认" : "");
      proposal.hidden = false;
    });
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" || !current || proposal.hidden) return;
    var tag = (ev.target && ev.target.tagName) || "";
    if (tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && ev.target !== answer)) return;
    if (ev.target === answer && answer.value && answer.value !== String(current.value)) return; // corrected
    answer.value = current.value;
    proposal.hidden = true;
    column.dispatchEvent(new CustomEvent("answer-accepted", { detail: current }));
    // TODO(engine): POST the confirmed answer (source asr, confidence, audio span) when record_answer lands.
    current = null;
    ev.preventDefault();
  });
})();
