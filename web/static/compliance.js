/* The compliance page: every facility of the type on the map, coloured by its status
   (red: a required item missing, grey: a required item not recorded, green: compliant),
   with its missing items in the tooltip. Text reaches the page only through textContent. */
(function () {
  "use strict";
  var SM = window.SM, cfg = SM.cfg, el = SM.el;
  var c = cfg.compliance, s = c.strings;
  var map = SM.map();
  var COLORS = { compliant: "#1b9e77", not_compliant: "#d62728", unknown: "#777777",
                 no_standard: "#777777" };
  var layer = L.featureGroup().addTo(map);
  c.facilities.forEach(function (f) {
    var marker = L.circleMarker(SM.latLng(f.display), {
      radius: f.status === "not_compliant" ? 8 : 6,
      color: COLORS[f.status] || "#777777", weight: 2, fillOpacity: 0.7,
      className: "sm-c-marker sm-c-" + f.status,
    });
    var lines = [el("strong", { text: f.name }),
                 el("div", { text: s.status + ": " + (s["status_" + f.status] || f.status) })];
    if (f.missing.length) lines.push(el("div", { text: s.missing + ": " + f.missing.join(", ") }));
    if (f.unknown.length) lines.push(el("div", { text: s.not_recorded + ": " + f.unknown.join(", ") }));
    marker.bindTooltip(el("div", {}, lines));
    marker.on("add", function () {
      var node = marker.getElement();
      if (node) { node.setAttribute("data-id", f.id); node.setAttribute("data-status", f.status); }
    });
    marker.addTo(layer);
  });
  if (c.facilities.length) map.fitBounds(layer.getBounds(), { padding: [20, 20], maxZoom: 14 });
  var pick = document.getElementById("sm-type");
  if (pick) pick.addEventListener("change", function () { pick.form.submit(); });
  window.smCompliance = { markers: c.facilities.length };
  document.body.dataset.ready = "1";
})();
