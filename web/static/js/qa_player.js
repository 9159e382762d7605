// QA player: clicking a transcript line seeks the recording; the line being played is highlighted and kept in
// view; the channel choice (both / nurse = left / patient = right) routes the audio through Web Audio.
(function () {
  "use strict";
  var audio = document.getElementById("player");
  var lines = Array.prototype.slice.call(document.querySelectorAll("#transcript .line"));
  if (!audio) return;

  function highlight() {
    var t = audio.currentTime, current = null;
    lines.forEach(function (line) { if (parseFloat(line.dataset.t0) <= t + 0.05) current = line; });
    lines.forEach(function (line) { line.classList.toggle("current", line === current); });
    if (current && current !== highlight.last) {
      highlight.last = current;
      current.scrollIntoView({ block: "nearest" });
    }
  }

  lines.forEach(function (line) {
    line.addEventListener("click", function () {
      audio.currentTime = parseFloat(line.dataset.t0);
      if (audio.paused) audio.play().catch(function () { /* the user can press play */ });
    });
  });
  ["timeupdate", "seeked"].forEach(function (e) { audio.addEventListener(e, highlight); });

  // Channel choice: split the stereo recording, weight each side, send the result to both ears.
  var gains = null;
  function route(choice) {
    if (!gains) {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      var ctx = new Ctx();
      var source = ctx.createMediaElementSource(audio);
      var splitter = ctx.createChannelSplitter(2);
      var merger = ctx.createChannelMerger(2);
      gains = [ctx.createGain(), ctx.createGain()];
      source.connect(splitter);
      gains.forEach(function (gain, side) {
        splitter.connect(gain, side);
        gain.connect(merger, 0, 0);
        gain.connect(merger, 0, 1);
      });
      merger.connect(ctx.destination);
      gains.ctx = ctx;
    }
    if (gains.ctx.state === "suspended") gains.ctx.resume();
    gains[0].gain.value = choice === "patient" ? 0 : (choice === "both" ? 0.5 : 1);
    gains[1].gain.value = choice === "nurse" ? 0 : (choice === "both" ? 0.5 : 1);
    audio.dataset.channel = choice;
  }
  Array.prototype.forEach.call(document.querySelectorAll('#channels input[name="channel"]'), function (input) {
    input.addEventListener("change", function () { if (input.checked) route(input.value); });
  });
})();
