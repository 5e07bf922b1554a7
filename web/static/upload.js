/* The upload preview's map: what the file would add (green), move (orange, a line from
   where the feature is now), change (blue) and remove (grey). Points come in the map's
   datum from the server (cfg.upload); names are shown as text only. */
(function () {
  "use strict";
  var SM = window.SM, cfg = SM.cfg, t = SM.t, el = SM.el, map = SM.map();
  var data = cfg.upload;
  if (!map || !data) return;
  SM.tidyMap(map);
  var COLORS = { added: "#15803d", moved: "#c2410c", changed: "#1d4ed8", removed: "#6b7280" };
  var layer = L.featureGroup().addTo(map);
  var drawn = {};
  ["removed", "changed", "moved", "added"].forEach(function (kind) {
    drawn[kind] = 0;
    data[kind].forEach(function (item) {
      if (!item.at) return;
      var ll = SM.latLng(item.at);
      var label = t("upload_" + kind) + ": " + (item.name || item.id) + " (" + item.id + ")";
      if (kind === "moved" && item.from) {
        label += " · " + SM.fmtDistance(item.distance_m);
        L.polyline([SM.latLng(item.from), ll], { color: COLORS.moved, weight: 2, dashArray: "4 4" })
          .addTo(layer);
      }
      L.circleMarker(ll, { radius: 7, color: "#fff", weight: 2, fillColor: COLORS[kind],
        fillOpacity: 0.9, className: "sm-preview-" + kind })
        .bindTooltip(el("span", { text: label })).addTo(layer);
      drawn[kind] += 1;
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll("#sm-upload-legend .key"), function (k) {
    Object.keys(COLORS).forEach(function (kind) {
      if (k.classList.contains(kind)) k.style.background = COLORS[kind];  // CSSOM: the CSP allows no style attributes
    });
  });
  if (map._animatingZoom && map._onZoomTransitionEnd) map._onZoomTransitionEnd();
  if (layer.getLayers().length) map.fitBounds(layer.getBounds().pad(0.2), { animate: false, maxZoom: 16 });
  window.smUpload = { drawn: drawn };
  document.body.dataset.ready = "1";
})();
