/* The fleet view's node page: follows each command that has no final result yet by asking
   /api/v1/fleet/commands/{id} once a second (for at most two minutes) and shows the bridge's
   result in its row. Labels come from the table's data-st-* attributes. */
(function () {
  "use strict";
  var table = document.getElementById("commands");
  if (!table) { return; }
  function label(status) {
    var v = table.dataset["st" + status.split("_").map(function (w) {
      return w.charAt(0).toUpperCase() + w.slice(1); }).join("")];
    return v || status;
  }
  function follow(row, left) {
    fetch("/api/v1/fleet/commands/" + encodeURIComponent(row.dataset.command), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (doc) {
        if (!doc) { return; }
        var cell = row.querySelector(".command-status");
        var c = doc.command;
        cell.textContent = label(c.status) + (c.reason ? ": " + c.reason : "");
        cell.dataset.status = c.status;
        if (c.final) { row.dataset.final = "true"; return; }
        if (left > 0) { window.setTimeout(function () { follow(row, left - 1); }, 1000); }
      })
      .catch(function () { if (left > 0) { window.setTimeout(function () { follow(row, left - 1); }, 1000); } });
  }
  table.querySelectorAll("tr[data-final='false']").forEach(function (row) { follow(row, 120); });
})();
