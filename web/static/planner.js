/* The planner: gap hexagons and facilities on the map, and what-if. Switching a facility
   off (its checkbox, or a click on its marker) or dropping a new site asks the API for the
   scenario's coverage and gaps, and updates the figures, tables and map in place. */
(function () {
  "use strict";
  var SM = window.SM, cfg = SM.cfg, t = SM.t, el = SM.el;
  var map = SM.map();
  var sc = cfg.scenario;
  var state = { off: new Set(sc.off), add: sc.add.slice(), adding: false };
  var facilities = {};   // id -> {f, marker}
  var gapLayer = null;
  var newLayer = L.layerGroup().addTo(map);
  var facLayer = L.layerGroup().addTo(map);
  var seq = 0;
  var addBtn = document.getElementById("sm-add");
  var addStatus = document.getElementById("sm-add-status");

  function scenarioParams() {
    return {
      type: sc.type,
      threshold_m: sc.threshold_m,
      threshold_s: sc.threshold_s,
      off: Array.from(state.off).sort(),
      add: state.add.map(function (p) { return p[0].toFixed(6) + "," + p[1].toFixed(6); }).join(";"),
      datum: cfg.datum,
      lang: cfg.lang,
    };
  }

  // ------------------------------------------------------------------ map layers
  // Classes of people per gap cell: the server's (geo.maps.gap_classes, in fc.classes);
  // a body without them gets the same rule here: lower bounds k x (1, 2, 5, 10, 20, 50).
  var GAP_STEPS = [1, 2, 5, 10, 20, 50];
  var GAP_COLORS = ["#fee5d9", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15"];
  function gapClasses(fc) {
    if (fc.classes && fc.classes.length) return fc.classes;
    var k = Math.max(Number(fc.privacy_k) || 0, 1);
    return GAP_STEPS.map(function (s, i) {
      var lo = k * s, hi = i + 1 < GAP_STEPS.length ? k * GAP_STEPS[i + 1] : null;
      return { min: lo, max: hi, color: GAP_COLORS[i],
        label: hi === null ? "\u2265 " + SM.fmtInt(lo) : SM.fmtInt(lo) + "\u2013" + SM.fmtInt(hi) };
    });
  }
  function gapClass(f, classes) {
    if (typeof f.properties.gap_class === "number") return f.properties.gap_class;
    var i = 0;
    classes.forEach(function (c, j) { if (f.properties.people >= c.min) i = j; });
    return i;
  }

  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var box = L.DomUtil.create("div", "sm-gap-legend leaflet-bar");
    box.id = "sm-gap-legend";
    // CSSOM, not a style attribute: the page's CSP allows no inline style attributes
    box.style.cssText = "background:#fff;padding:6px 8px;font-size:12px;line-height:1.5";
    return box;
  };
  legend.addTo(map);

  function drawLegend(classes) {
    var box = document.getElementById("sm-gap-legend");
    box.textContent = "";
    box.appendChild(el("strong", { text: t("legend_people_per_cell") }));
    classes.forEach(function (c, i) {
      var swatch = el("i", {});
      swatch.style.cssText = "display:inline-block;width:14px;height:10px;margin-right:6px;" +
        "border:1px solid #7f1d1d;background:" + c.color;
      box.appendChild(el("div", { class: "sm-gap-class", "data-class": String(i),
        "data-color": c.color }, [swatch, el("span", { text: c.label })]));
    });
  }

  function drawGaps(fc) {
    if (gapLayer) map.removeLayer(gapLayer);
    var classes = gapClasses(fc);
    gapLayer = L.geoJSON(fc, {
      style: function (f) {
        return { color: "#7f1d1d", weight: 0.5, fillColor: classes[gapClass(f, classes)].color,
          fillOpacity: 0.75, className: "sm-gap-cell" };
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(el("span", { text: t("uncovered") + ": " + SM.fmtInt(f.properties.people) }));
      },
    }).addTo(map);
    gapLayer.bringToBack();
    drawLegend(classes);
    var note = document.getElementById("sm-privacy");
    note.textContent = t("privacy_note", { k: fc.privacy_k, w: SM.fmtInt(fc.withheld_people) });
  }

  function styleMarker(id) {
    var e = facilities[id];
    if (!e) return;
    var node = e.marker.getElement();
    if (!node) return;
    var off = state.off.has(id);
    node.classList.toggle("off", off);
    node.setAttribute("aria-label", e.f.properties.name + " · " + (off ? t("closed") : t("in_service")));
    node.setAttribute("aria-pressed", off ? "false" : "true");
  }

  // one facility's marker (drawn again after an edit: static/edit.js)
  function drawFacility(f) {
    var p = f.properties;
    removeFacility(p.id);
    var m = L.marker(SM.latLng(f.geometry.coordinates), {
      icon: SM.pin(p.type), keyboard: true, title: p.name,
    });
    m.bindTooltip(el("span", { text: p.name }), { direction: "top", offset: [0, -8] });
    m.on("add", function () { styleMarker(p.id); m.getElement().setAttribute("data-id", p.id); });
    m.on("click", function () {
      if (state.adding) return;
      // in edit mode a click opens the facility's form instead of switching it off
      if (window.smEdit && window.smEdit.markerClick(p.id)) return;
      toggle(p.id);
    });
    facilities[p.id] = { f: f, marker: m };
    m.addTo(facLayer);
    if (window.smEdit) window.smEdit.markerAdded(p.id);
    return m;
  }

  function removeFacility(id) {
    var e = facilities[id];
    if (!e) return;
    facLayer.removeLayer(e.marker);
    delete facilities[id];
    state.off.delete(id);
  }

  function drawFacilities(fc) {
    fc.features.forEach(drawFacility);
  }

  function drawNew() {
    newLayer.clearLayers();
    var list = document.getElementById("sm-added");
    list.textContent = "";
    state.add.forEach(function (p, i) {
      var label = t("new_site") + " " + (i + 1);
      L.marker(SM.latLng(p), { icon: SM.pin(sc.type, "new"), keyboard: true, title: label })
        .bindTooltip(el("span", { text: label })).addTo(newLayer);
      list.appendChild(el("li", {}, [
        label + " (" + p[1].toFixed(5) + ", " + p[0].toFixed(5) + ") ",
        el("button", { type: "button", text: t("remove"), "aria-label": t("remove") + " " + label,
          on: { click: function () { state.add.splice(i, 1); drawNew(); update(); } } }),
      ]));
    });
  }

  // ------------------------------------------------------------------ tables
  function cell(tag, text, cls, value) {
    return el(tag, { class: cls || null, text: text, "data-value": value === undefined ? null : value,
      scope: tag === "th" ? "row" : null });
  }

  function renderAreas(areas) {
    var tbody = document.querySelector("#sm-areas tbody");
    tbody.textContent = "";
    areas.forEach(function (a) {
      var name = cfg.lang === "en" && a.name_en ? a.name_en : a.name;
      tbody.appendChild(el("tr", { "data-area": a.area_id }, [
        cell("th", name),
        cell("td", SM.fmtInt(a.people), "num", a.people),
        cell("td", SM.fmtInt(a.uncovered), "num", a.uncovered),
        cell("td", SM.fmtShare(a.covered_share), "num", a.covered_share === null ? "" : a.covered_share),
      ]));
    });
    resort();
  }

  function renderLoads(loads) {
    var tbody = document.querySelector("#sm-loads tbody");
    tbody.textContent = "";
    var rows = loads.filter(function (l) { return !l.new; });
    state.off.forEach(function (id) {
      var e = facilities[id];
      rows.push({ id: id, name: e ? e.f.properties.name : id, off: true });
    });
    rows.forEach(function (l) {
      var box = el("input", {
        type: "checkbox", class: "sm-in-service", value: l.id, checked: !l.off,
        "aria-label": t("in_service") + ": " + l.name,
        on: { change: function () { toggle(l.id); } },
      });
      tbody.appendChild(el("tr", { "data-id": l.id, class: l.off ? "off" : null }, [
        el("td", {}, [box]),
        cell("th", l.name),
        cell("td", l.off ? "—" : SM.fmtInt(l.people_nearest), "num"),
        cell("td", l.off ? "—" : SM.fmtInt(l.people_covered), "num"),
        cell("td", l.capacity === null || l.capacity === undefined ? "—" : String(Math.round(l.capacity)), "num"),
        cell("td", l.load_ratio === null || l.load_ratio === undefined ? "—" : l.load_ratio.toFixed(2), "num"),
      ]));
    });
  }

  function renderHeadline(body) {
    var set = function (id, text, value) {
      var n = document.getElementById(id);
      n.textContent = text;
      n.setAttribute("data-value", value === null ? "" : value);
    };
    set("sm-share", SM.fmtShare(body.covered_share), body.covered_share);
    set("sm-uncovered", SM.fmtInt(body.people_uncovered), body.people_uncovered);
    set("sm-total", SM.fmtInt(body.people_total), body.people_total);
    set("sm-count", String(body.facilities), body.facilities);
    var method = document.getElementById("sm-method");
    method.textContent = t("method_" + body.method_key, { mode: body.mode });
    method.setAttribute("title", body.method);
    document.getElementById("sm-scenario").textContent = body.scenario.changed
      ? t("scenario_changed", { off: body.scenario.off.length, add: body.scenario.add.length })
      : t("scenario_base");
  }

  function updateExports() {
    var q = SM.query(scenarioParams());
    Array.prototype.forEach.call(document.querySelectorAll("#sm-exports a"), function (a) {
      var parts = a.getAttribute("href").split("?");
      var own = new URLSearchParams(parts[1] || ""), keep = [];
      ["table", "out_datum", "encoding"].forEach(function (k) {
        if (own.get(k)) keep.push(k + "=" + encodeURIComponent(own.get(k)));
      });
      a.setAttribute("href", parts[0] + "?" + q + (keep.length ? "&" + keep.join("&") : ""));
    });
  }

  // ------------------------------------------------------------------ sorting
  var sortKey = "uncovered", sortDir = "descending";
  function resort() {
    var table = document.getElementById("sm-areas");
    var ths = table.querySelectorAll("thead th");
    var idx = 0, type = "num";
    Array.prototype.forEach.call(ths, function (th, i) {
      if (th.getAttribute("data-key") === sortKey) { idx = i; type = th.getAttribute("data-type"); th.setAttribute("aria-sort", sortDir); }
      else th.removeAttribute("aria-sort");
    });
    var tbody = table.querySelector("tbody");
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = a.cells[idx], y = b.cells[idx], r;
      if (type === "num") {
        var xv = parseFloat(x.getAttribute("data-value")), yv = parseFloat(y.getAttribute("data-value"));
        r = (isNaN(xv) ? -Infinity : xv) - (isNaN(yv) ? -Infinity : yv);
      } else r = x.textContent.localeCompare(y.textContent, cfg.lang === "en" ? "en" : "zh");
      return sortDir === "ascending" ? r : -r;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("#sm-areas thead th"), function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var key = th.getAttribute("data-key");
      sortDir = key === sortKey && sortDir === "descending" ? "ascending" : "descending";
      sortKey = key;
      resort();
    });
  });

  // ------------------------------------------------------------------ what-if
  function update() {
    var mine = ++seq;
    var started = performance.now();
    var q = SM.query(scenarioParams());
    document.body.dataset.updating = "1";
    return Promise.all([
      SM.getJSON(cfg.api.coverage + "?" + q + (cfg.area_level ? "&area_level=" + cfg.area_level : "")),
      SM.getJSON(cfg.api.gaps + "?" + q),
    ]).then(function (res) {
      if (mine !== seq) return;
      renderHeadline(res[0]);
      renderAreas(res[0].areas);
      renderLoads(res[0].loads);
      drawGaps(res[1]);
      Object.keys(facilities).forEach(styleMarker);
      updateExports();
      window.smPlanner.lastUpdateMs = performance.now() - started;
      window.smPlanner.updates += 1;
      delete document.body.dataset.updating;
    }).catch(function (err) {
      delete document.body.dataset.updating;
      addStatus.textContent = String(err.message || err);
    });
  }

  function toggle(id) {
    if (state.off.has(id)) state.off.delete(id); else state.off.add(id);
    styleMarker(id);
    update();
  }

  function setAdding(on) {
    state.adding = on;
    addBtn.setAttribute("aria-pressed", on ? "true" : "false");
    addStatus.textContent = on ? t("add_site_active") : "";
    map.getContainer().style.cursor = on ? "crosshair" : "";
  }

  addBtn.addEventListener("click", function () { setAdding(!state.adding); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && state.adding) setAdding(false); });
  map.on("click", function (e) {
    if (!state.adding || (window.smEdit && window.smEdit.placing())) return;
    state.add.push([e.latlng.lng, e.latlng.lat]);
    setAdding(false);
    drawNew();
    update();
  });
  document.getElementById("sm-reset").addEventListener("click", function () {
    state.off.clear();
    state.add = [];
    drawNew();
    update();
  });
  var suggestBtn = document.getElementById("sm-suggest");
  suggestBtn.addEventListener("click", function () {
    if (suggestBtn.disabled) return;
    var model = document.getElementById("sm-model");
    var q = scenarioParams();
    if (model && model.value) q.model = model.value;
    q.method = "fast";  // greedy + swaps: an answer in well under a second (the API's default is exact)
    SM.getJSON(cfg.api.suggest + "?" + SM.query(q)).then(function (fc) {
      fc.features.forEach(function (f) { state.add.push(f.geometry.coordinates.slice(0, 2)); });
      drawNew();
      update();
    }).catch(function (err) { addStatus.textContent = String(err.message || err); });
  });
  Array.prototype.forEach.call(document.querySelectorAll("#sm-loads input.sm-in-service"), function (box) {
    box.addEventListener("change", function () { toggle(box.value); });
  });

  // Switching the type offers that type's own thresholds, its default chosen: a driver
  // home is not measured with a rest station's 1 km.
  var typeSel = document.getElementById("sm-type");
  var thSel = document.getElementById("sm-threshold");
  typeSel.addEventListener("change", function () {
    var info = cfg.types[typeSel.value];
    var hidden = document.querySelector("input[name=threshold_for]");
    if (!info || !thSel || thSel.getAttribute("data-unit") !== "m") return;
    thSel.textContent = "";
    var values = info.thresholds_m.length ? info.thresholds_m.slice() : [info.threshold_m];
    if (values.indexOf(info.threshold_m) < 0) values.push(info.threshold_m);
    values.forEach(function (v) {
      thSel.appendChild(el("option", { value: String(Math.round(v)), text: Math.round(v) + " m",
        selected: v === info.threshold_m }));
    });
    if (hidden) hidden.value = typeSel.value;
  });

  window.smPlanner = {
    update: update, lastUpdateMs: null, updates: 0, state: state, map: map,
    facilities: facilities, drawFacility: drawFacility, removeFacility: removeFacility,
    isAdding: function () { return state.adding; },
  };

  var changed = state.off.size > 0 || state.add.length > 0;
  Promise.all([
    SM.getJSON(cfg.api.facilities + "?" + SM.query({ type: sc.type, limit: 10000, datum: cfg.datum, lang: cfg.lang })),
    SM.getJSON(cfg.api.gaps + "?" + SM.query(scenarioParams())),
  ]).then(function (res) {
    drawFacilities(res[0]);
    drawGaps(res[1]);
    drawNew();
    resort();
    return changed ? update() : null;
  }).then(function () {
    document.body.dataset.ready = "1";
  }).catch(function (err) { addStatus.textContent = String(err.message || err); });
})();
