// Patient results: one line chart per numeric series (Chart.js, vendored), from the JSON the server rendered.
(function () {
  "use strict";
  var node = document.getElementById("chart-data");
  if (!node || !window.Chart) return;
  var series = JSON.parse(node.textContent);
  document.querySelectorAll("canvas.result-chart").forEach(function (canvas) {
    var s = series[Number(canvas.dataset.series)];
    new Chart(canvas, {
      type: "line",
      data: {
        labels: s.points.map(function (p) { return p[0].slice(0, 10); }),
        datasets: [{ label: s.label, data: s.points.map(function (p) { return p[1]; }), tension: 0.2 }]
      },
      options: { animation: false, responsive: true, plugins: { legend: { display: false } } }
    });
  });
  document.body.dataset.charts = "ready";
})();
