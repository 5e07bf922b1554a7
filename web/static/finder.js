/* The public finder: every facility on the map (clustered), filters, and the nearest
   facilities to a point chosen by geolocation, a click on the map or a search.
   Facilities come from /api/facilities in the datum of the base map; names, addresses and
   hours are put in the page with textContent only. */
(function () {
  "use strict";
  var SM = window.SM, cfg = SM.cfg, t = SM.t, el = SM.el;
  var map = SM.map();
  var MAX_LIST = 50;

  var listEl = document.getElementById("sm-list");
  var statusEl = document.getElementById("sm-status");
  var titleEl = document.getElementById("sm-list-title");
  var form = document.getElementById("sm-search");
  var qEl = document.getElementById("sm-q");

  var cluster = L.markerClusterGroup({
    chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45,
  });
  map.addLayer(cluster);

  var entries = [];      // {f, marker}, in data order
  var byId = {};
  var shown = [];        // entries passing the filters
  var mode = "view";     // view | nearest | search
  var results = [];      // features of the last nearest/search answer
  var lastPoint = null;  // {lon, lat, datum} of the last nearest query
  var hereMarker = null;
  var selectedId = null;

  function status(text) { statusEl.textContent = text; }

  // ------------------------------------------------------------------ filters
  function checked(name) {
    return Array.prototype.map.call(
      document.querySelectorAll('input[name="' + name + '"]:checked'),
      function (i) { return i.value; });
  }

  function filters() {
    return {
      types: checked("type"),
      allTypes: checked("type").length === document.querySelectorAll('input[name="type"]').length,
      amenities: checked("amenity"),
      open: document.getElementById("sm-open").checked,
    };
  }

  function passes(p, flt) {
    if (flt.types.indexOf(p.type) < 0) return false;
    for (var i = 0; i < flt.amenities.length; i++) {
      if (p.amenities.indexOf(flt.amenities[i]) < 0) return false;
    }
    return !(flt.open && p.open_now !== true);
  }

  function filterParams(flt) {
    return {
      type: flt.allTypes ? null : flt.types,
      amenity: flt.amenities,
      open_now: flt.open ? 1 : null,
    };
  }

  // ------------------------------------------------------------------ rendering
  function openBadge(p) {
    if (p.open_now === true) return el("span", { class: "badge open", text: t("is_open") });
    if (p.open_now === false) return el("span", { class: "badge closed", text: t("is_closed") });
    return null;
  }

  function details(p, extra) {
    var parts = [];
    var dist = [];
    if (extra && extra.distance_m !== undefined) dist.push(SM.fmtDistance(extra.distance_m));
    if (extra && extra.time_s !== undefined && extra.time_s !== null) {
      dist.push(t("travel_time", { min: Math.max(1, Math.round(extra.time_s / 60)) }));
    }
    parts.push(el("p", { class: "meta" }, [
      el("span", { class: "swatch " + SM.typeClass(p.type), "aria-hidden": "true" }), " ",
      p.type_label + (dist.length ? " · " + dist.join(" · ") : ""),
    ]));
    parts.push(el("p", { class: "meta" }, [
      (p.hours || t("hours_unknown")), openBadge(p),
    ]));
    if (p.address) parts.push(el("p", { class: "meta address", text: p.address }));
    if (p.amenities.length) {
      parts.push(el("ul", { class: "amenities", "aria-label": t("amenities") },
        p.amenities.map(function (a) { return el("li", { text: t("amenity_" + a) }); })));
    }
    parts.push(el("p", { class: "links" }, [
      el("a", { href: SM.safeHref(p.links.amap), target: "_blank", rel: "noopener noreferrer", text: t("navigate_amap") }),
      el("a", { href: SM.safeHref(p.links.baidu), target: "_blank", rel: "noopener noreferrer", text: t("navigate_baidu") }),
      el("a", { href: cfg.facility_url.replace("__ID__", encodeURIComponent(p.id)), text: t("details") }),
    ]));
    return parts;
  }

  function popupContent(f, extra) {
    var p = f.properties;
    return el("div", { class: "sm-popup", "data-id": p.id },
      [el("h3", { text: p.name })].concat(details(p, extra)));
  }

  function listItem(f, extra) {
    var p = f.properties;
    var name = el("button", {
      type: "button", class: "name", text: p.name,
      on: { click: function () { select(p.id, true); } },
    });
    var li = el("li", { "data-id": p.id, class: p.id === selectedId ? "selected" : null },
      [el("h3", { class: "item-title" }, [name])].concat(details(p, extra)));
    return li;
  }

  function renderList() {
    listEl.textContent = "";
    var flt = filters();
    var items = [];
    if (mode === "nearest" || mode === "search") {
      items = results.filter(function (f) { return passes(f.properties, flt); });
      titleEl.textContent = mode === "nearest" ? t("list_nearest") : t("list_search");
    } else {
      var bounds = map.getBounds();
      items = shown.filter(function (e) { return bounds.contains(e.marker.getLatLng()); })
        .map(function (e) { return e.f; });
      titleEl.textContent = t("list_in_view");
    }
    var frag = document.createDocumentFragment();
    items.slice(0, MAX_LIST).forEach(function (f) { frag.appendChild(listItem(f, f.properties)); });
    listEl.appendChild(frag);
    if (items.length > MAX_LIST) {
      listEl.appendChild(el("li", { class: "more", text: t("list_more", { n: items.length - MAX_LIST }) }));
    }
    if (!items.length) listEl.appendChild(el("li", { class: "none", text: t("none_found") }));
    return items.length;
  }

  function applyFilters() {
    var flt = filters();
    shown = entries.filter(function (e) { return passes(e.f.properties, flt); });
    cluster.clearLayers();
    cluster.addLayers(shown.map(function (e) { return e.marker; }));
    if (mode === "nearest" && lastPoint) {
      nearestFrom(lastPoint.lon, lastPoint.lat, lastPoint.datum, false);
    } else {
      renderList();
    }
    status(t("loaded", { n: shown.length }));
  }

  // ------------------------------------------------------------------ selection
  function select(id, fromList) {
    var prev = byId[selectedId];
    if (prev && prev.marker.getElement()) prev.marker.getElement().classList.remove("selected");
    selectedId = id;
    Array.prototype.forEach.call(listEl.querySelectorAll("li[data-id]"), function (li) {
      li.classList.toggle("selected", li.getAttribute("data-id") === id);
    });
    var e = byId[id];
    if (!e) return;
    if (fromList) {
      if (cluster.hasLayer(e.marker)) {
        cluster.zoomToShowLayer(e.marker, function () {
          e.marker.openPopup();
          if (e.marker.getElement()) e.marker.getElement().classList.add("selected");
        });
      } else {
        map.setView(e.marker.getLatLng(), Math.max(map.getZoom(), 16));
      }
    } else {
      if (e.marker.getElement()) e.marker.getElement().classList.add("selected");
      var li = listEl.querySelector('li[data-id="' + CSS.escape(id) + '"] button.name');
      if (li) li.focus({ preventScroll: false });
    }
  }

  // ------------------------------------------------------------------ markers
  function makeMarker(f) {
    var p = f.properties;
    var m = L.marker(SM.latLng(f.geometry.coordinates), {
      icon: SM.pin(p.type), keyboard: true, title: p.name, riseOnHover: true,
    });
    m.bindTooltip(el("span", { text: p.name }), { direction: "top", offset: [0, -8] });
    m.bindPopup(function () {
      var r = results.filter(function (x) { return x.properties.id === p.id; })[0];
      return popupContent(f, r ? r.properties : null);
    }, { maxWidth: 300 });
    m.on("add", function () {
      var node = m.getElement();
      if (!node) return;
      node.setAttribute("aria-label", p.name + " · " + p.type_label);
      node.setAttribute("data-id", p.id);
      if (p.id === selectedId) node.classList.add("selected");
    });
    m.on("click", function () { select(p.id, false); });
    return m;
  }

  function load() {
    var url = cfg.api.facilities + "?" + SM.query({ limit: 10000, datum: cfg.datum, lang: cfg.lang });
    var feats = [];
    function page(u) {
      return SM.getJSON(u).then(function (fc) {
        feats = feats.concat(fc.features);
        var next = (fc.links || []).filter(function (l) { return l.rel === "next"; })[0];
        return next ? page(next.href) : feats;
      });
    }
    return page(url).then(function (all) {
      entries = all.map(function (f) { return { f: f, marker: makeMarker(f) }; });
      entries.forEach(function (e) { byId[e.f.properties.id] = e; });
      applyFilters();
      document.body.dataset.ready = "1";
    }).catch(function (err) { status(String(err.message || err)); });
  }

  // ------------------------------------------------------------------ nearest
  function showHere(display) {
    var ll = SM.latLng(display);
    if (hereMarker) hereMarker.setLatLng(ll);
    else {
      hereMarker = L.marker(ll, {
        icon: L.divIcon({ className: "sm-here", iconSize: [18, 18] }),
        keyboard: false, title: t("you_are_here"), zIndexOffset: 1000,
      }).addTo(map);
    }
  }

  function nearestFrom(lon, lat, datum, focusList) {
    lastPoint = { lon: lon, lat: lat, datum: datum };
    var flt = filters();
    var params = Object.assign({
      lon: lon, lat: lat, in_datum: datum, datum: cfg.datum, k: cfg.k, lang: cfg.lang,
    }, filterParams(flt));
    if (!flt.types.length) { results = []; mode = "nearest"; renderList(); return Promise.resolve(); }
    return SM.getJSON(cfg.api.nearest + "?" + SM.query(params)).then(function (fc) {
      results = fc.features;
      mode = "nearest";
      showHere(fc.query.display);
      listEl.dataset.queryLon = fc.query.lon;
      listEl.dataset.queryLat = fc.query.lat;
      var n = renderList();
      status(t("list_nearest") + ": " + n);
      if (focusList) listEl.focus();
    }).catch(function (err) { status(String(err.message || err)); });
  }

  function locate() {
    if (!window.isSecureContext) { status(t("geo_insecure") + " " + t("geo_fallback")); return; }
    if (!navigator.geolocation) { status(t("geo_unavailable") + " " + t("geo_fallback")); return; }
    status(t("geo_locating"));
    navigator.geolocation.getCurrentPosition(function (pos) {
      // the browser's position is WGS84: the API converts it to the map's datum
      nearestFrom(pos.coords.longitude, pos.coords.latitude, "wgs84", true);
    }, function (err) {
      var why = err && err.code === 1 ? t("geo_denied") : t("geo_unavailable");
      status(why + " " + t("geo_fallback"));
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  }

  function search(ev) {
    ev.preventDefault();
    var q = qEl.value.trim();
    if (!q) return;
    SM.getJSON(cfg.api.search + "?" + SM.query({ q: q, datum: cfg.datum, lang: cfg.lang }))
      .then(function (res) {
        if (res.areas.length) {
          var a = res.areas[0];
          return nearestFrom(a.display[0], a.display[1], cfg.datum, true).then(function () {
            map.setView(SM.latLng(a.display), Math.max(map.getZoom(), 13));
            status(t("list_nearest") + ": " + (cfg.lang === "en" && a.name_en ? a.name_en : a.name));
          });
        }
        results = res.facilities.features;
        mode = "search";
        var n = renderList();
        status(t("list_search") + ": " + n);
        listEl.focus();
      }).catch(function (err) { status(String(err.message || err)); });
  }

  // ------------------------------------------------------------------ wiring
  // filters open on a wide screen; on a phone they fold away above the map
  if (window.matchMedia("(min-width: 900px)").matches) document.getElementById("sm-filters").open = true;
  map.on("click", function (e) { nearestFrom(e.latlng.lng, e.latlng.lat, cfg.datum, false); });
  var moveTimer = null;
  map.on("moveend", function () {
    if (mode !== "view") return;
    clearTimeout(moveTimer);
    moveTimer = setTimeout(renderList, 150);
  });
  document.getElementById("sm-locate").addEventListener("click", locate);
  form.addEventListener("submit", search);
  Array.prototype.forEach.call(document.querySelectorAll(".filters input"), function (i) {
    i.addEventListener("change", applyFilters);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && mode !== "view") { mode = "view"; results = []; renderList(); }
  });

  window.smFinder = {
    markerCount: function () { return cluster.getLayers().length; },
    total: function () { return entries.length; },
    listedIds: function () {
      return Array.prototype.map.call(listEl.querySelectorAll("li[data-id]"),
        function (li) { return li.getAttribute("data-id"); });
    },
    nearestFrom: nearestFrom,
  };
  load();
})();
