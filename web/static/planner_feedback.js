/* The planner's review pages: each report on the map beside its facility (a line from the
   facility to a "moved" report's new position), the stations not confirmed lately, and the
   public's suggestions over their H3 clusters. Labels go in by textContent. */
(function () {
  "use strict";
  var SM = window.SM, cfg = SM.cfg, t = SM.t, el = SM.el;
  var map = SM.map();
  if (!map) return;
  SM.metricScale(map);
  SM.watchTiles(map, document.getElementById("sm-tiles-notice"));
  SM.tidyMap(map);
  var layer = L.featureGroup().addTo(map);
  var byId = {};

  function dot(latlng, color, label) {
    var m = L.circleMarker(latlng, { radius: 8, color: color, weight: 2, fillOpacity: 0.7, interactive: true });
    m.bindTooltip(el("span", { text: label }), { direction: "top" });
    return m;
  }

  (cfg.clusters || []).forEach(function (c) {
    var shape = L.geoJSON(c.shape, { style: { color: "#7c3aed", weight: 1, fillOpacity: 0.08 + 0.1 * Math.min(c.uncovered, 5) } });
    shape.bindTooltip(el("span", { text: c.h3 + " · " + c.suggestions + " / " + c.uncovered }));
    shape.addTo(layer);
  });

  (cfg.markers || []).forEach(function (m) {
    var group = L.featureGroup();
    var color = cfg.feedback_view === "suggestions" ? (m.covered ? "#15803d" : "#b91c1c")
      : cfg.feedback_view === "stale" ? "#b45309" : "#1d4ed8";
    if (m.at) dot(SM.latLng(m.at), color, (m.id !== undefined && cfg.feedback_view === "reports" ? "#" + m.id + " " : "") + m.name).addTo(group);
    if (m.moved_to) {
      var to = SM.latLng(m.moved_to);
      dot(to, "#f97316", "#" + m.id + " " + t("report_moved_to")).addTo(group);
      if (m.at) L.polyline([SM.latLng(m.at), to], { color: "#f97316", dashArray: "4 4" }).addTo(group);
    }
    group.addTo(layer);
    byId[String(m.id)] = group;
  });
  if (layer.getLayers().length) {
    if (map._animatingZoom && map._onZoomTransitionEnd) map._onZoomTransitionEnd();
    map.fitBounds(layer.getBounds(), { maxZoom: 16, padding: [20, 20], animate: false });
  }
  Array.prototype.forEach.call(document.querySelectorAll("button.show-on-map"), function (b) {
    b.addEventListener("click", function () {
      var g = byId[b.getAttribute("data-id")];
      if (!g) return;
      map.fitBounds(g.getBounds(), { maxZoom: 17, padding: [40, 40] });
      map.getContainer().scrollIntoView({ block: "center" });
    });
  });
  document.body.dataset.ready = "1";
})();
