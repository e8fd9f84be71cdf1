/* A node's charts (uPlot) from /api/v1/nodes/{id}/series/{quantity}; the values table below
   each chart is the text alternative and is rendered by the server. */
(function () {
  "use strict";
  if (!window.uPlot) { return; }
  var lang = document.documentElement.lang;
  document.querySelectorAll(".chart").forEach(function (el) {
    var url = "/api/v1/nodes/" + el.dataset.node + "/series/" + encodeURIComponent(el.dataset.quantity) +
      "?range=" + el.dataset.range;
    fetch(url).then(function (r) { return r.json(); }).then(function (doc) {
      var t = [], mean = [], lo = [], hi = [];
      doc.points.forEach(function (p) { t.push(p[0]); mean.push(p[1]); lo.push(p[2]); hi.push(p[3]); });
      var raw = doc.resolution === "raw";
      var series = [{}, { label: lang === "de" ? "Mittel" : "Mean", stroke: "#00608a", width: 2 }];
      var data = [t, mean];
      if (!raw) {
        series.push({ label: "Min", stroke: "#9ecae1", width: 1 }, { label: "Max", stroke: "#9ecae1", width: 1 });
        data.push(lo, hi);
      }
      var width = Math.max(280, el.clientWidth);
      var plot = new uPlot({ width: width, height: 220, series: series, scales: { x: { time: true } },
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
        axes: [{}, { label: el.dataset.unit, size: 60 }] }, data, el);
      el.dataset.points = String(t.length);
      window.addEventListener("resize", function () { plot.setSize({ width: Math.max(280, el.clientWidth), height: 220 }); });
    });
  });
})();
