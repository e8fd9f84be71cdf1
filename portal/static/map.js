/* The map: one circle marker per public node, coloured by the chosen quantity, updated live
   from /api/v1/stream (server-sent events). No tiles unless the operator configured a URL. */
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var lang = el.dataset.lang, quantity = el.dataset.quantity;
  var map = L.map(el, { zoomSnap: 0.5, attributionControl: true });
  if (el.dataset.tileUrl) {
    L.tileLayer(el.dataset.tileUrl, { maxZoom: 19, attribution: el.dataset.tileAttribution || "" }).addTo(map);
  }
  L.control.scale({ imperial: false }).addTo(map);
  var markers = {}, latest = {}, names = {};
  var palette = ["#2c7bb6", "#abd9e9", "#ffffbf", "#fdae61", "#d7191c"];

  var units = { "Cel": "°C", "%RH": lang === "de" ? "% rF" : "% RH", "ug/m3": "µg/m³", "kg/m3": "kg/m³", "/": "", "%EL": "%" };
  function fmt(v, u) {
    if (u && Object.prototype.hasOwnProperty.call(units, u)) { u = units[u]; }
    if (v === null || v === undefined) { return "—"; }
    if (typeof v === "boolean") { return lang === "de" ? (v ? "ja" : "nein") : (v ? "yes" : "no"); }
    if (typeof v === "number") {
      var t = Math.abs(v) < 1e5 ? Number(v.toPrecision(4)).toString() : v.toFixed(0);
      return (lang === "de" ? t.replace(".", ",") : t) + (u ? " " + u : "");
    }
    return String(v);
  }
  function range() {
    var vals = Object.keys(latest).map(function (k) { return latest[k][quantity]; })
      .filter(function (x) { return x && typeof x.v !== "string" && x.v !== null; })
      .map(function (x) { return Number(x.v); });
    if (!vals.length) { return [0, 1]; }
    return [Math.min.apply(null, vals), Math.max.apply(null, vals)];
  }
  function colour(v, r) {
    if (v === null || v === undefined || typeof v === "string") { return "#8c8c8c"; }
    var f = r[1] > r[0] ? (Number(v) - r[0]) / (r[1] - r[0]) : 0.5;
    return palette[Math.max(0, Math.min(palette.length - 1, Math.round(f * (palette.length - 1))))];
  }
  function paint() {
    var r = range();
    Object.keys(markers).forEach(function (id) {
      var x = (latest[id] || {})[quantity];
      markers[id].setStyle({ fillColor: colour(x ? x.v : null, r) });
      markers[id].setTooltipContent(names[id] + ": " + fmt(x ? x.v : null, x ? x.u : ""));
    });
    var lr = document.getElementById("legend-range");
    if (lr) { lr.textContent = "(" + fmt(r[0], "") + " … " + fmt(r[1], "") + ")"; }
  }
  function cell(id, q) { return document.querySelector('tr[data-node="' + id + '"] td[data-q="' + q + '"]'); }

  fetch("/api/v1/nodes").then(function (r) { return r.json(); }).then(function (doc) {
    var bounds = [];
    doc.nodes.forEach(function (n) {
      names[n.id] = n.name;
      latest[n.id] = {};
      n.latest.forEach(function (s) { latest[n.id][s.quantity] = { v: s.value, u: s.unit }; });
      if (!n.position) { return; }
      var ll = [n.position.lat, n.position.lon];
      bounds.push(ll);
      var m = L.circleMarker(ll, { radius: 11, weight: 2, color: "#1d2430", fillOpacity: 0.9, className: "node-marker" });
      m.bindTooltip(n.name, { permanent: doc.nodes.length <= 30, direction: "top", offset: [0, -10] });
      m.on("click", function () { window.location.href = "/" + lang + "/node/" + n.id; });
      m.addTo(map);
      markers[n.id] = m;
    });
    if (bounds.length) { map.fitBounds(bounds, { padding: [60, 60], maxZoom: 16 }); } else { map.setView([50.815, 7.155], 13); }
    el.dataset.markers = String(Object.keys(markers).length);
    paint();
  });

  var select = document.getElementById("quantity");
  if (select) {
    select.addEventListener("change", function () {
      quantity = select.value;
      el.dataset.quantity = quantity;
      document.querySelectorAll("[data-q]").forEach(function (c) { c.hidden = c.dataset.q !== quantity; });
      document.getElementById("lang-switch").href = "/" + (lang === "de" ? "en" : "de") + "/?quantity=" + encodeURIComponent(quantity);
      history.replaceState(null, "", "?quantity=" + encodeURIComponent(quantity));
      paint();
    });
  }

  var live = document.getElementById("live");
  if (window.EventSource) {
    var es = new EventSource("/api/v1/stream");
    es.onopen = function () { live.textContent = live.dataset.on; live.classList.add("on"); };
    es.onerror = function () { live.textContent = live.dataset.off; live.classList.remove("on"); };
    es.addEventListener("pack", function (e) {
      var ev = JSON.parse(e.data);
      if (!latest[ev.node]) { return; }
      Object.keys(ev.values).forEach(function (q) {
        latest[ev.node][q] = ev.values[q];
        var c = cell(ev.node, q);
        if (c) { c.textContent = fmt(ev.values[q].v, ev.values[q].u); c.dataset.updated = ev.values[q].t; }
      });
      var seen = document.querySelector('tr[data-node="' + ev.node + '"] td.seen');
      var any = Object.keys(ev.values)[0];
      if (seen && any) { seen.textContent = ev.values[any].t.slice(0, 10) + " " + ev.values[any].t.slice(11, 16) + " UTC"; }
      paint();
    });
    es.addEventListener("resync", function () { window.location.reload(); });
  }
})();
