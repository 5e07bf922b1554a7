/* One facility's page: its marker on the small map, the map zoomed on it. */
(function () {
  "use strict";
  var SM = window.SM, f = SM.cfg.feature, map = SM.map();
  if (!map || !f) return;
  SM.metricScale(map);
  SM.watchTiles(map, document.getElementById("sm-tiles-notice"));
  SM.tidyMap(map);
  var ll = SM.latLng(f.geometry.coordinates);
  var m = L.marker(ll, { icon: SM.pin(f.properties.type, "selected"), keyboard: false, title: f.properties.name });
  m.bindTooltip(SM.el("span", { text: f.properties.name }), { direction: "top", offset: [0, -8], permanent: false });
  m.addTo(map);
  var e = m.getElement();
  if (e) { e.setAttribute("role", "img"); e.setAttribute("aria-label", f.properties.name); }
  // folium fits the map to the district with an animated zoom, whose end would undo a
  // view set while it runs: that animation is finished first (Leaflet 1.9's own step)
  if (map._animatingZoom && map._onZoomTransitionEnd) map._onZoomTransitionEnd();
  map.setView(ll, 16, { animate: false });
  // kept for offline use like the finder (a QR plate opens this page): its shell, so
  // a report made here without a signal waits in the outbox (offline-queue.js)
  SM.registerOffline([]).then(function (ok) { if (ok) document.body.dataset.offline = "1"; });
  // "still here" and the report form, when the app keeps reports
  var box = document.getElementById("sm-report");
  if (box && SM.feedback && SM.feedback.enabled) {
    box.appendChild(SM.feedback.panel(f, map));
    document.addEventListener("sm:confirmed", function () {
      var line = document.getElementById("sm-last-confirmed");
      var today = new Intl.DateTimeFormat("en-CA", { timeZone: SM.cfg.timezone || "Asia/Shanghai" }).format(new Date());
      if (line) { line.dataset.date = today; line.textContent = SM.t("last_confirmed_on", { date: today }); }
    });
  }
  document.body.dataset.ready = "1";
})();
