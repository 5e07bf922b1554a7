/* The public finder: every facility on the map (clustered), filters, and the nearest
   facilities to a point chosen by geolocation, a click on the map, the keyboard (Enter on
   the map, or the "map centre" button) or a search.
   Facilities come from /api/facilities in the datum of the base map; names, addresses and
   hours are put in the page with textContent only.
   Offline (the service worker answers with the kept facility list), the nearest to the
   last chosen point are found here, from that list, and marked "as of <time>". */
(function () {
  "use strict";
  var SM = window.SM, cfg = SM.cfg, t = SM.t, el = SM.el;
  var map = SM.map();
  var MAX_LIST = 50;
  var LAST_KEY = "sm-last-point";
  var APPS = ["amap", "baidu", "tencent"];

  var listEl = document.getElementById("sm-list");
  var statusEl = document.getElementById("sm-status");
  var titleEl = document.getElementById("sm-list-title");
  var countEl = document.getElementById("sm-count");
  var form = document.getElementById("sm-search");
  var qEl = document.getElementById("sm-q");

  var cluster = L.markerClusterGroup({
    chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45,
    iconCreateFunction: function (c) {
      var n = c.getChildCount();
      var size = n < 10 ? "small" : n < 100 ? "medium" : "large";
      // the count shows; the button's name says what it is
      return L.divIcon({
        html: el("div", {}, [
          el("span", { class: "n", "aria-hidden": "true", text: String(n) }),
          el("span", { class: "visually-hidden", text: t("cluster_label", { n: n }) }),
        ]),
        className: "marker-cluster marker-cluster-" + size,
        iconSize: L.point(44, 44),
      });
    },
  });
  map.addLayer(cluster);

  var entries = [];      // {f, marker}, in data order
  var byId = {};
  var shown = [];        // entries passing the filters
  var mode = "view";     // view | nearest | search
  var results = [];      // features of the last nearest/search answer
  var lastPoint = null;  // {lon, lat, datum, display} of the last nearest query
  var hereMarker = null;
  var selectedId = null;
  var routeMode = "ride";
  var offlineAsOf = null;  // set when the facility list came from the service worker
  var returnFocus = null;
  var holdList = false;    // true from a list item's Enter until its popup closes

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

  function isOpen(p) {
    var s = SM.hoursNow(p).state;
    return s === "open" || s === "closing_soon";
  }

  function passes(p, flt) {
    if (flt.types.indexOf(p.type) < 0) return false;
    for (var i = 0; i < flt.amenities.length; i++) {
      if (p.amenities.indexOf(flt.amenities[i]) < 0) return false;
    }
    return !(flt.open && !isOpen(p));
  }

  function filterParams(flt) {
    return {
      type: flt.allTypes ? null : flt.types,
      amenity: flt.amenities,
      open_now: flt.open ? 1 : null,
    };
  }

  // ------------------------------------------------------------------ rendering
  function hoursLine(p) {
    var h = SM.hoursNow(p);
    return el("p", { class: "meta hours", "data-state": h.state }, [SM.stateBadge(h.state), " ", h.text]);
  }

  function navButtons(p, modes) {
    return modes.map(function (m) {
      return el("p", { class: "links nav-links", "data-mode": m }, APPS.map(function (app) {
        var label = t("route_to", { app: t("app_" + app), mode: t("route_" + m), name: p.name });
        return el("a", {
          class: "button nav", href: SM.safeHref(p.links[app + "_" + m]), target: "_blank",
          rel: "noopener noreferrer", "aria-label": label, title: label, text: t("app_" + app),
        });
      }));
    });
  }

  function details(p, extra, modes) {
    var parts = [];
    var dist = [];
    if (extra && extra.distance_m !== undefined && extra.distance_m !== null) dist.push(SM.fmtDistance(extra.distance_m));
    if (extra && extra.time_s !== undefined && extra.time_s !== null) {
      dist.push(t("travel_time", { min: Math.max(1, Math.round(extra.time_s / 60)) }));
    }
    parts.push(el("p", { class: "meta" }, [
      el("span", { class: "swatch " + SM.typeClass(p.type), "aria-hidden": "true" }), " ",
      p.type_label + (dist.length ? " · " + dist.join(" · ") : ""),
    ]));
    parts.push(hoursLine(p));
    if (p.address) parts.push(el("p", { class: "meta address", text: p.address }));
    if (p.amenities.length) {
      parts.push(el("ul", { class: "amenities", "aria-label": t("amenities") },
        p.amenities.map(function (a) { return el("li", { text: SM.amenity(a) }); })));
    }
    parts = parts.concat(navButtons(p, modes));
    parts.push(el("p", { class: "links" }, [
      el("a", {
        class: "button", href: cfg.facility_url.replace("__ID__", encodeURIComponent(p.id)),
        "aria-label": t("details_of", { name: p.name }), text: t("details"),
      }),
    ]));
    return parts;
  }

  function popupContent(f, extra) {
    var p = f.properties;
    var parts = [el("h3", { text: p.name, tabindex: "-1" })].concat(details(p, extra, ["ride", "walk"]));
    // "still here" and "report a problem" (feedback.js, when the app keeps reports)
    // (the form opens beside the map, where it fits, and the popup closes)
    if (SM.feedback && SM.feedback.enabled) {
      parts.push(SM.feedback.panel(f, map, {
        formHost: document.getElementById("sm-report-host"),
        onOpen: function () { map.closePopup(); },
      }));
    }
    return el("div", { class: "sm-popup", "data-id": p.id }, parts);
  }

  function listItem(f, extra) {
    var p = f.properties;
    var name = el("button", {
      type: "button", class: "name", text: p.name,
      on: { click: function () { select(p.id, true); } },
    });
    var li = el("li", { "data-id": p.id, class: p.id === selectedId ? "selected" : null },
      [el("h3", { class: "item-title" }, [name])].concat(details(p, extra, [routeMode])));
    return li;
  }

  // the API's search: a case-insensitive part of the name or the address
  function countMatches(q, flt) {
    var needle = q.toLowerCase();
    return entries.filter(function (e) {
      var p = e.f.properties;
      return (p.name + " " + p.address).toLowerCase().indexOf(needle) >= 0 && passes(p, flt);
    }).length;
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
    var total = items.length;
    if (mode === "search" && results.query) {
      // the API answers at most 50: how many match, from the whole list loaded here
      total = Math.max(total, countMatches(results.query, flt));
    }
    var frag = document.createDocumentFragment();
    items.slice(0, MAX_LIST).forEach(function (f) { frag.appendChild(listItem(f, f.properties)); });
    listEl.appendChild(frag);
    var listed = Math.min(items.length, MAX_LIST);
    if (total > listed) {
      countEl.textContent = t("list_truncated", { shown: listed, total: total });
    } else {
      countEl.textContent = items.length ? t("list_count", { n: items.length }) : "";
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
    if (!offlineAsOf) status(t("loaded", { n: shown.length }));
  }

  // ------------------------------------------------------------------ selection
  function markSelected(id) {
    var prev = byId[selectedId];
    if (prev && prev.marker.getElement()) prev.marker.getElement().classList.remove("selected");
    selectedId = id;
    Array.prototype.forEach.call(listEl.querySelectorAll("li[data-id]"), function (li) {
      li.classList.toggle("selected", li.getAttribute("data-id") === id);
    });
    var e = byId[id];
    if (e && e.marker.getElement()) e.marker.getElement().classList.add("selected");
  }

  function select(id, fromList) {
    markSelected(id);
    var e = byId[id];
    if (!e) return;
    if (fromList) {
      // the list stays as it is while the map moves to the facility and its popup is open
      holdList = true;
      returnFocus = id;
      if (cluster.hasLayer(e.marker)) {
        cluster.zoomToShowLayer(e.marker, function () {
          e.marker.openPopup();
          if (e.marker.getElement()) e.marker.getElement().classList.add("selected");
        });
      } else {
        map.setView(e.marker.getLatLng(), Math.max(map.getZoom(), 16));
      }
    } else {
      var li = listEl.querySelector('li[data-id="' + CSS.escape(id) + '"] button.name');
      if (li) li.focus({ preventScroll: true });
    }
  }

  function bringListIntoView() {
    var box = listEl.getBoundingClientRect();
    if (box.top > window.innerHeight - 80 || box.bottom < 0) {
      titleEl.scrollIntoView({ block: "start", behavior: "auto" });
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
    m.on("click", function () {
      if (typeof returnFocus !== "string") returnFocus = m.getElement();
      select(p.id, false);
    });
    return m;
  }

  // focus goes into an opened popup, and back where it came from when it closes
  map.on("popupopen", function (e) {
    var box = e.popup.getElement();
    var h = box && box.querySelector(".sm-popup h3");
    if (h) setTimeout(function () { h.focus({ preventScroll: true }); }, 0);
    if (box && !box.dataset.keys) {
      box.dataset.keys = "1";
      box.addEventListener("keydown", function (ev) {
        if (ev.key === "Escape") { ev.stopPropagation(); map.closePopup(); }
      });
    }
  });
  map.on("popupclose", function (e) {
    holdList = false;
    // a report's "moved" pin goes with its popup
    var box = e.popup && e.popup.getElement();
    Array.prototype.forEach.call(box ? box.querySelectorAll("form.report-form") : [], function (f) {
      if (f.stop) f.stop();
    });
    var back = returnFocus;
    returnFocus = null;
    if (typeof back === "string") {
      back = listEl.querySelector('li[data-id="' + CSS.escape(back) + '"] button.name') ||
        (byId[back] && byId[back].marker.getElement());
    }
    if (back && document.body.contains(back)) back.focus({ preventScroll: true });
  });

  function facilitiesUrl() {
    return cfg.api.facilities + "?" + SM.query({ limit: 10000, datum: cfg.datum, lang: cfg.lang });
  }

  function load() {
    var url = facilitiesUrl();
    var feats = [];
    function page(u) {
      return SM.getJSON(u).then(function (fc) {
        if (fc.offlineAsOf !== undefined) offlineAsOf = fc.offlineAsOf || new Date().toISOString();
        feats = feats.concat(fc.features);
        var next = (fc.links || []).filter(function (l) { return l.rel === "next"; })[0];
        return next ? page(next.href) : feats;
      });
    }
    return page(url).then(function (all) {
      entries = all.map(function (f) { return { f: f, marker: makeMarker(f) }; });
      entries.forEach(function (e) { byId[e.f.properties.id] = e; });
      applyFilters();
      if (offlineAsOf) {
        status(t("offline_list", { time: SM.fmtTime(offlineAsOf) }));
        var last = savedPoint();
        if (last) nearestOffline(last);
      } else {
        SM.registerOffline([url]).then(function (ok) { if (ok) document.body.dataset.offline = "1"; });
      }
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
        keyboard: false, interactive: false, title: t("you_are_here"), zIndexOffset: 1000,
      }).addTo(map);
    }
  }

  function savePoint(p) {
    try { localStorage.setItem(LAST_KEY, JSON.stringify(p)); } catch (e) { /* private mode */ }
  }

  function savedPoint() {
    try { return JSON.parse(localStorage.getItem(LAST_KEY) || "null"); } catch (e) { return null; }
  }

  function haversineM(a, b) {
    var R = 6371008.8, rad = Math.PI / 180;
    var dLat = (b[1] - a[1]) * rad, dLon = (b[0] - a[0]) * rad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  // the nearest from the kept list (the display datum's shift is the same for the point
  // and the facilities nearby, so the order holds)
  function nearestOffline(point) {
    if (!point || !point.display) return;
    lastPoint = point;
    var flt = filters();
    var ranked = entries.filter(function (e) { return passes(e.f.properties, flt); }).map(function (e) {
      var d = haversineM(point.display, e.f.geometry.coordinates);
      return { f: e.f, d: d };
    }).sort(function (a, b) { return a.d - b.d || (a.f.properties.id < b.f.properties.id ? -1 : 1); });
    results = ranked.slice(0, cfg.k).map(function (r) {
      return { type: "Feature", geometry: r.f.geometry,
        properties: Object.assign({}, r.f.properties, { distance_m: Math.round(r.d) }) };
    });
    mode = "nearest";
    showHere(point.display);
    listEl.dataset.queryLon = point.lon;
    listEl.dataset.queryLat = point.lat;
    renderList();
    status(t("offline_nearest", { time: SM.fmtTime(offlineAsOf || new Date().toISOString()) }));
  }

  function nearestFrom(lon, lat, datum, focusList, highlight) {
    var flt = filters();
    var params = Object.assign({
      lon: lon, lat: lat, in_datum: datum, datum: cfg.datum, k: cfg.k, lang: cfg.lang,
    }, filterParams(flt));
    if (!flt.types.length) { results = []; mode = "nearest"; renderList(); return Promise.resolve(); }
    return SM.getJSON(cfg.api.nearest + "?" + SM.query(params)).then(function (fc) {
      results = fc.features;
      mode = "nearest";
      lastPoint = { lon: lon, lat: lat, datum: datum, display: fc.query.display };
      savePoint({ lon: fc.query.lon, lat: fc.query.lat, datum: "wgs84", display: fc.query.display });
      showHere(fc.query.display);
      listEl.dataset.queryLon = fc.query.lon;
      listEl.dataset.queryLat = fc.query.lat;
      var n = renderList();
      status(t("list_nearest") + ": " + n);
      if (highlight && results.length) markSelected(results[0].properties.id);
      if (focusList) listEl.focus({ preventScroll: true });
      if (focusList || highlight) bringListIntoView();
    }).catch(function (err) {
      if (err.network && entries.length && datum === cfg.datum) {
        // the signal went: rank the kept list instead
        offlineAsOf = offlineAsOf || savedAsOf();
        nearestOffline({ lon: lon, lat: lat, datum: datum, display: [lon, lat] });
        if (highlight && results.length) markSelected(results[0].properties.id);
        return;
      }
      status(String(err.message || err));
    });
  }

  function savedAsOf() { return document.body.dataset.loadedAt || new Date().toISOString(); }

  function locate() {
    if (!window.isSecureContext) { status(t("geo_insecure") + " " + t("geo_fallback")); return; }
    if (!navigator.geolocation) { status(t("geo_unavailable") + " " + t("geo_fallback")); return; }
    status(t("geo_locating"));
    navigator.geolocation.getCurrentPosition(function (pos) {
      // the browser's position is WGS84: the API converts it to the map's datum
      nearestFrom(pos.coords.longitude, pos.coords.latitude, "wgs84", true, true);
    }, function (err) {
      var why = err && err.code === 1 ? t("geo_denied") : t("geo_unavailable");
      status(why + " " + t("geo_fallback"));
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  }

  function fromCentre() {
    var c = map.getCenter();
    return nearestFrom(c.lng, c.lat, cfg.datum, true, true);
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
        results.query = q;
        mode = "search";
        var n = renderList();
        status(t("list_search") + ": " + n);
        listEl.focus();
      }).catch(function (err) { status(String(err.message || err)); });
  }

  function setRouteMode(m) {
    routeMode = m;
    Array.prototype.forEach.call(document.querySelectorAll("#sm-route-mode button"), function (b) {
      b.setAttribute("aria-pressed", b.value === m ? "true" : "false");
    });
    renderList();
  }

  // ------------------------------------------------------------------ wiring
  // filters open on a wide screen; on a phone they fold away above the map
  if (window.matchMedia("(min-width: 900px)").matches) document.getElementById("sm-filters").open = true;
  SM.metricScale(map);
  SM.watchTiles(map, document.getElementById("sm-tiles-notice"));
  SM.tidyMap(map);
  map.on("click", function (e) { nearestFrom(e.latlng.lng, e.latlng.lat, cfg.datum, false, true); });
  map.getContainer().addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target === map.getContainer()) { e.preventDefault(); fromCentre(); }
  });
  var moveTimer = null;
  map.on("moveend", function () {
    if (mode !== "view" || holdList) return;
    clearTimeout(moveTimer);
    moveTimer = setTimeout(renderList, 150);
  });
  document.getElementById("sm-locate").addEventListener("click", locate);
  document.getElementById("sm-centre").addEventListener("click", fromCentre);
  Array.prototype.forEach.call(document.querySelectorAll("#sm-route-mode button"), function (b) {
    b.addEventListener("click", function () { setRouteMode(b.value); });
  });
  form.addEventListener("submit", search);
  Array.prototype.forEach.call(document.querySelectorAll(".filters input"), function (i) {
    i.addEventListener("change", applyFilters);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && mode !== "view" && !document.querySelector(".leaflet-popup")) {
      mode = "view"; results = []; renderList();
    }
  });
  document.body.dataset.loadedAt = new Date().toISOString();
  if (SM.feedback && SM.feedback.enabled) SM.feedback.suggestTool(map, document.getElementById("sm-suggest"));

  window.smFinder = {
    markerCount: function () { return cluster.getLayers().length; },
    total: function () { return entries.length; },
    listedIds: function () {
      return Array.prototype.map.call(listEl.querySelectorAll("li[data-id]"),
        function (li) { return li.getAttribute("data-id"); });
    },
    nearestFrom: nearestFrom,
    selectedId: function () { return selectedId; },
  };
  load();
})();
