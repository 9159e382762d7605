// Statistics charts (Chart.js, vendored) drawn from the figures the server rendered into #chart-data.
(function () {
  "use strict";
  var node = document.getElementById("chart-data");
  if (!node || !window.Chart) return;
  var data = JSON.parse(node.textContent);
  var common = { animation: false, responsive: true, plugins: { legend: { position: "bottom" } } };

  new Chart(document.getElementById("chart-trend"), {
    type: "line",
    data: {
      labels: data.trend.map(function (r) { return r[0].slice(5); }),
      datasets: [
        { label: "应访", data: data.trend.map(function (r) { return r[1]; }) },
        { label: "完成", data: data.trend.map(function (r) { return r[2]; }) },
        { label: "呼叫", data: data.trend.map(function (r) { return r[3]; }) }
      ]
    },
    options: common
  });
  new Chart(document.getElementById("chart-hours"), {
    type: "bar",
    data: { labels: data.hours.map(function (_, h) { return h + "时"; }),
            datasets: [{ label: "呼叫次数", data: data.hours }] },
    options: common
  });
  var classes = ["I", "P", "R", "NC", "O", "U", "NE"];
  new Chart(document.getElementById("chart-aapor"), {
    type: "bar",
    data: { labels: ["完成 I", "部分 P", "拒绝 R", "未接触 NC", "其他 O", "未知 U", "不符合 NE"],
            datasets: [{ label: "个案数", data: classes.map(function (c) { return data.dispositions[c] || 0; }) }] },
    options: common
  });
  document.body.dataset.charts = "ready";
})();
