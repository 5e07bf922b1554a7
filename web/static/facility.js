/* One facility's page: its marker on the small map. */
(function () {
  "use strict";
  var SM = window.SM, f = SM.cfg.feature, map = SM.map();
  if (!map || !f) return;
  var ll = SM.latLng(f.geometry.coordinates);
  var m = L.marker(ll, { icon: SM.pin(f.properties.type, "selected"), keyboard: true, title: f.properties.name });
  m.bindTooltip(SM.el("span", { text: f.properties.name }), { direction: "top", offset: [0, -8] });
  m.addTo(map);
  m.on("add", function () {});
  var e = m.getElement();
  if (e) e.setAttribute("aria-label", f.properties.name);
  map.setView(ll, 15);
  document.body.dataset.ready = "1";
})();
