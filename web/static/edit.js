/* Editing facilities on the planner's map (issue 10), through the write API with SM.send:
   drag a marker to move a facility (PATCH lon/lat), click one to change its fields or
   close it (PATCH, DELETE), click the map to add one (POST). Every change names the
   version it started from (If-Match), read when the edit starts; when someone saved in
   between, the 409 answer's two sides are shown (theirs, saved now, and yours) and the
   editor chooses: keep theirs, or save theirs' version with their own values over it.
   Text reaches the page through textContent only (SM.el). */
(function () {
  "use strict";
  var SM = window.SM, cfg = SM.cfg, t = SM.t, el = SM.el;
  var P = window.smPlanner, E = cfg.edit;
  if (!P || !E) return;
  var map = P.map;
  var FIELDS = ["type", "name", "address", "hours", "capacity", "contact", "amenities"];
  var toggleBtn = document.getElementById("sm-edit");
  var addBtn = document.getElementById("sm-edit-add");
  var status = document.getElementById("sm-edit-status");
  var panel = document.getElementById("sm-edit-panel");
  var reasonEl = document.getElementById("sm-edit-reason");
  var state = { active: false, placing: false, open: null };
  var versions = {};  // id -> {version, feature}: read when an edit of it starts

  function itemUrl(id) { return E.item_url.replace("__ID__", encodeURIComponent(id)); }
  function historyUrl(id) { return E.history_url.replace("__ID__", encodeURIComponent(id)); }
  function say(text) { status.textContent = text; }
  function reason() { return reasonEl.value; }

  // the facility as stored now, and its version (the ETag of GET /api/facilities/<id>)
  function read(id) {
    return SM.getJSON(itemUrl(id) + "?" + SM.query({ datum: cfg.datum, lang: cfg.lang }))
      .then(function (f) { versions[id] = { version: f.version, feature: f }; return f; });
  }

  function redraw(f) {
    var m = P.drawFacility(f);
    if (state.active && m.dragging) m.dragging.enable();
    var node = m.getElement();
    if (node) node.classList.toggle("draggable", state.active);
    return m;
  }

  // after a saved change: the marker from the server's answer, the figures again
  function saved(id, answer, message) {
    return read(id).then(function (f) {
      redraw(f);
      say(message(f, answer));
      document.body.dataset.saved = String(answer.version);
      return P.update();
    });
  }

  function send(method, id, body, version) {
    var url = id === null ? E.add_url : itemUrl(id);
    var headers = version === undefined ? {} : { "If-Match": '"' + version + '"' };
    return SM.send(method, url, body, headers);
  }

  // ------------------------------------------------------------------ conflicts
  function describe(rec) {
    if (!rec) return t("history_closed");
    return FIELDS.concat(["lon", "lat"]).filter(function (k) {
      return rec[k] !== undefined && rec[k] !== null && rec[k] !== "";
    }).map(function (k) {
      var v = Array.isArray(rec[k]) ? rec[k].join(", ") : rec[k];
      return k + ": " + v;
    }).join("\n");
  }

  function conflict(err, id, body, retry) {
    var b = err.body || {};
    panel.textContent = "";
    panel.hidden = false;
    panel.setAttribute("data-conflict", "1");
    panel.appendChild(el("p", { role: "alert", class: "error-message", id: "sm-conflict",
      text: t("edit_conflict", { theirs: b.current_version, yours: b.expected_version }) }));
    panel.appendChild(el("div", { class: "both" }, [
      el("div", {}, [el("h3", { text: t("edit_theirs") }),
        el("pre", { id: "sm-conflict-theirs", text: describe(b.current) })]),
      el("div", {}, [el("h3", { text: t("edit_yours") }),
        // the server's copy of what was sent: lon/lat in the same datum as theirs
        el("pre", { id: "sm-conflict-yours",
          text: describe(Object.assign({}, b.current || {}, b.proposed || body)) })]),
    ]));
    var keep = el("button", { type: "button", id: "sm-keep-theirs", text: t("edit_keep_theirs") });
    var mine = el("button", { type: "button", id: "sm-save-mine", text: t("edit_save_mine") });
    keep.addEventListener("click", function () {
      panel.hidden = true;
      panel.removeAttribute("data-conflict");
      read(id).then(redraw).then(function () { say(t("edit_keep_theirs")); });
    });
    mine.addEventListener("click", function () {
      panel.removeAttribute("data-conflict");
      retry(b.current_version);
    });
    if (b.current) panel.appendChild(el("p", { class: "buttons" }, [keep, " ", mine]));
    else panel.appendChild(el("p", { class: "buttons" }, [keep]));
  }

  function failed(id, body, retry) {
    return function (err) {
      if (err.status === 409 && id !== null) conflict(err, id, body, retry);
      else say(String(err.message || err));
    };
  }

  // ------------------------------------------------------------------ moving
  function moved(id, marker, start) {
    var ll = marker.getLatLng();
    var body = { lon: ll.lng, lat: ll.lat, datum: cfg.datum, reason: reason() };
    return start.then(function () {
      var save = function (version) {
        return send("PATCH", id, body, version).then(function (answer) {
          return saved(id, answer, function (f) {
            return t("edit_moved", { name: f.properties.name, v: answer.version });
          });
        }, failed(id, body, save));
      };
      return save(versions[id].version);
    });
  }

  function wire(id) {
    var e = P.facilities[id];
    if (!e || e.wired) return;
    e.wired = true;
    // the version is read when the drag starts: a save in between is a conflict
    var start = null;
    e.marker.on("dragstart", function () { start = read(id); });
    e.marker.on("dragend", function () {
      moved(id, e.marker, start || read(id)).catch(function (err) { say(String(err.message || err)); });
      start = null;
    });
  }

  // ------------------------------------------------------------------ the form
  function input(name, value) {
    var id = "sm-edit-" + name;
    var control;
    if (name === "type") {
      control = el("select", { id: id, name: name });
      Object.keys(cfg.types).forEach(function (k) {
        control.appendChild(el("option", { value: k, text: cfg.types[k].label, selected: k === value }));
      });
    } else {
      var v = value === null || value === undefined ? "" : Array.isArray(value) ? value.join(", ") : String(value);
      control = el("input", { id: id, name: name, value: v, type: name === "capacity" ? "number" : "text",
        min: name === "capacity" ? "0" : null, maxlength: "2000" });
    }
    return el("label", {}, [t("edit_field_" + name) + " ", control]);
  }

  function values(form, before) {
    var out = {};
    FIELDS.forEach(function (k) {
      var c = form.querySelector("[name=" + k + "]");
      if (!c) return;
      var v = c.value;
      if (k === "capacity") v = v === "" ? null : Number(v);
      else if (k === "amenities") v = v.split(",").map(function (a) { return a.trim(); }).filter(Boolean);
      var old = before ? before[k] : undefined;
      if (before && JSON.stringify(old === undefined ? null : old) === JSON.stringify(v)) return;
      if (!before && (v === "" || v === null)) return;
      out[k] = v;
    });
    return out;
  }

  function openForm(id, f, at) {
    state.open = id;
    panel.textContent = "";
    panel.hidden = false;
    panel.removeAttribute("data-conflict");
    var p = f ? f.properties : { type: cfg.scenario.type };
    var form = el("form", { id: "sm-edit-form", novalidate: true });
    form.appendChild(el("h3", { text: id === null ? t("edit_title_new") : t("edit_title", { name: p.name }) }));
    FIELDS.forEach(function (k) { form.appendChild(input(k, p[k])); });
    var saveBtn = el("button", { type: "submit", id: "sm-edit-save", text: t("edit_save") });
    var cancel = el("button", { type: "button", id: "sm-edit-cancel", text: t("cancel") });
    var row = el("p", { class: "buttons" }, [saveBtn, " ", cancel]);
    if (id !== null) {
      var close = el("button", { type: "button", id: "sm-edit-close", text: t("edit_close_facility") });
      close.addEventListener("click", function () { closeFacility(id, p); });
      row.appendChild(document.createTextNode(" "));
      row.appendChild(close);
      row.appendChild(document.createTextNode(" "));
      row.appendChild(el("a", { href: historyUrl(id), id: "sm-edit-history", text: t("edit_history") }));
    }
    form.appendChild(row);
    cancel.addEventListener("click", function () { panel.hidden = true; state.open = null; });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (id === null) add(form, at); else change(id, form, p);
    });
    panel.appendChild(form);
    var first = form.querySelector("[name=name]");
    if (first) first.focus();
  }

  function change(id, form, before) {
    var body = values(form, before);
    body.reason = reason();
    var save = function (version) {
      return send("PATCH", id, body, version).then(function (answer) {
        panel.hidden = true;
        return saved(id, answer, function () { return t("edit_saved", { v: answer.version }); });
      }, failed(id, body, save));
    };
    return save(versions[id].version);
  }

  function add(form, at) {
    var body = values(form, null);
    body.lon = at[0];
    body.lat = at[1];
    body.datum = cfg.datum;
    body.reason = reason();
    return send("POST", null, body).then(function (answer) {
      panel.hidden = true;
      return saved(answer.id, answer, function () { return t("edit_saved", { v: answer.version }); });
    }, failed(null, body, null));
  }

  function closeFacility(id, p) {
    var body = { reason: reason() };
    var go = function (version) {
      return send("DELETE", id, body, version).then(function (answer) {
        panel.hidden = true;
        P.removeFacility(id);
        say(t("edit_closed", { name: p.name }));
        document.body.dataset.saved = String(answer.version);
        return P.update();
      }, failed(id, body, go));
    };
    return go(versions[id].version);
  }

  // ------------------------------------------------------------------ modes
  function setActive(on) {
    state.active = on;
    toggleBtn.setAttribute("aria-pressed", on ? "true" : "false");
    addBtn.hidden = !on;
    say(on ? t("edit_mode_active") : "");
    Object.keys(P.facilities).forEach(function (id) {
      var m = P.facilities[id].marker;
      wire(id);
      if (m.dragging) { if (on) m.dragging.enable(); else m.dragging.disable(); }
      var node = m.getElement();
      if (node) node.classList.toggle("draggable", on);
    });
    if (!on) { setPlacing(false); panel.hidden = true; }
  }

  function setPlacing(on) {
    state.placing = on;
    addBtn.setAttribute("aria-pressed", on ? "true" : "false");
    map.getContainer().style.cursor = on ? "crosshair" : "";
    if (on) say(t("edit_add_active"));
  }

  toggleBtn.addEventListener("click", function () { setActive(!state.active); });
  addBtn.addEventListener("click", function () { setPlacing(!state.placing); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && state.placing) setPlacing(false); });
  map.on("click", function (e) {
    if (!state.placing) return;
    setPlacing(false);
    openForm(null, null, [e.latlng.lng, e.latlng.lat]);
  });

  window.smEdit = {
    active: function () { return state.active; },
    placing: function () { return state.placing; },
    markerClick: function (id) {
      if (!state.active) return false;
      read(id).then(function (f) { openForm(id, f, null); }, function (err) { say(String(err.message || err)); });
      return true;
    },
    markerAdded: function (id) { wire(id); },
    versions: versions,
  };
})();
