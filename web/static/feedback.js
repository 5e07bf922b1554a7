/* Public feedback on the finder and the facility page: "still here" in one tap, a report
   form (closed, moved with a draggable pin, hours, equipment, other; text and photo), and
   "suggest a station" anywhere on the map. Every text goes in by textContent; every post
   goes through SM.feedback.post, one place (the offline queue wraps it). */
(function () {
  "use strict";
  var SM = window.SM, cfg = SM.cfg, t = SM.t, el = SM.el;
  var api = cfg.feedback || {};
  var KINDS = ["closed", "moved", "hours", "equipment", "other"];
  var n = 0;  // ids for labels

  // one POST of a public form (SM.send: multipart with the photo, or JSON); a 429 says
  // "too many" in the page's language
  function post(url, body) {
    return SM.send("POST", url, body).catch(function (err) {
      if (err.status === 429) err.message = t("err_rate");
      // no network: the outbox (offline-queue.js) keeps it and sends it when back online
      if (!err.network || !window.SMQueue) throw err;
      return window.SMQueue.queue(url, body).then(function () {
        var kept = new Error(t("outbox_saved"));
        kept.network = kept.queued = true;
        throw kept;
      });
    });
  }

  function reportUrl(id) { return api.reports.replace("__ID__", encodeURIComponent(id)); }

  function movePin(map, latlng, cls) {
    var m = L.marker(latlng, {
      draggable: true, keyboard: true, autoPan: true, title: t("report_moved_hint"),
      icon: L.divIcon({ className: "sm-pin sm-move-pin " + (cls || ""), iconSize: [44, 44] }),
    });
    m.addTo(map);
    var e = m.getElement();
    if (e) { e.setAttribute("aria-label", t("report_moved_hint")); e.setAttribute("role", "button"); }
    // a keyboard way: arrow keys move the focused pin by a few metres
    if (e) e.addEventListener("keydown", function (ev) {
      var step = { ArrowUp: [0, -10], ArrowDown: [0, 10], ArrowLeft: [-10, 0], ArrowRight: [10, 0] }[ev.key];
      if (!step) return;
      ev.preventDefault(); ev.stopPropagation();
      var p = map.latLngToContainerPoint(m.getLatLng()).add(L.point(step[0], step[1]));
      m.setLatLng(map.containerPointToLatLng(p));
    });
    return m;
  }

  // "still here": one tap, the answer said next to it
  function stillHere(feature, note) {
    var p = feature.properties;
    var b = el("button", { type: "button", class: "still-here", "data-action": "confirm",
      "aria-label": t("still_here_of", { name: p.name }), text: t("still_here") });
    b.addEventListener("click", function () {
      b.disabled = true;
      note.textContent = t("report_sending");
      SM.feedback.post(reportUrl(p.id), { kind: "confirm" }).then(function () {
        note.textContent = t("confirmed_thanks");
        document.dispatchEvent(new CustomEvent("sm:confirmed", { detail: { id: p.id } }));
      }, function (err) { b.disabled = !!err.queued; note.textContent = err.message; });
    });
    return b;
  }

  // the report form; ``map``: where the "moved" pin goes
  function reportForm(feature, map, onDone) {
    var p = feature.properties, id = "sm-r" + (++n);
    var pin = null;
    var note = el("p", { class: "feedback-note", role: "status", "aria-live": "polite" });
    var radios = KINDS.map(function (k, i) {  // none chosen: a slip must not say "closed"
      return el("label", { class: "chip" }, [
        el("input", { type: "radio", name: "kind", value: k, required: i === 0 ? true : null }),
        t("kind_" + k),
      ]);
    });
    var hint = el("p", { class: "hint move-hint", text: t("report_moved_hint"), hidden: true });
    var consent = el("input", { type: "checkbox", name: "consent", value: "1", id: id + "-consent" });
    var form = el("form", { class: "report-form", "data-id": p.id }, [
      el("fieldset", {}, [el("legend", { text: t("report_kind") })].concat(radios)),
      hint,
      el("label", { for: id + "-text", text: t("report_text") }),
      el("textarea", { id: id + "-text", name: "text", maxlength: "500", rows: "3" }),
      el("label", { for: id + "-photo", text: t("report_photo") }),
      el("input", { id: id + "-photo", name: "photo", type: "file", accept: "image/jpeg,image/png,image/webp" }),
      el("details", { class: "contact" }, [
        el("summary", { text: t("report_contact") }),
        el("label", { for: id + "-contact", text: t("report_contact") }),
        el("input", { id: id + "-contact", name: "contact", type: "text", maxlength: "100", autocomplete: "off" }),
        el("label", { class: "consent", for: id + "-consent" }, [consent, " ", t("report_consent")]),
      ]),
      // a honeypot: never shown (display: none), filled by bots that fill every field
      el("div", { class: "hp" }, [
        el("label", { for: id + "-website", text: t("honeypot") }),
        el("input", { id: id + "-website", name: "website", type: "text", tabindex: "-1", autocomplete: "off" }),
      ]),
      el("p", { class: "privacy note", text: t("report_privacy") }),
      el("p", { class: "actions" }, [
        el("button", { type: "submit", class: "primary", text: t("report_send") }),
        onDone ? el("button", { type: "button", class: "cancel", text: t("report_cancel"),
          on: { click: function () { stop(); onDone(false); } } }) : null,
      ]),
      note,
    ]);
    function stop() { if (pin) { pin.remove(); pin = null; } }
    form.addEventListener("change", function (ev) {
      if (ev.target.name !== "kind") return;
      var moved = ev.target.value === "moved";
      hint.hidden = !moved;
      if (moved && !pin && map) {
        var ll = SM.latLng(feature.geometry.coordinates);
        var off = map.latLngToContainerPoint(ll).add(L.point(30, -30));
        pin = movePin(map, map.containerPointToLatLng(off));
        form._pin = pin;
      }
      if (!moved) stop();
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var data = new FormData(form);
      var photo = data.get("photo");
      if (photo && !photo.size) data.delete("photo");
      if (data.get("kind") === "moved" && pin) {
        var ll = pin.getLatLng();
        data.set("lon", String(ll.lng)); data.set("lat", String(ll.lat)); data.set("datum", cfg.datum);
      }
      if (!consent.checked) data.delete("consent");
      var send = form.querySelector("button[type=submit]");
      send.disabled = true;
      note.textContent = t("report_sending");
      SM.feedback.post(reportUrl(p.id), data).then(function (answer) {
        note.textContent = t("report_sent");
        form.dataset.sent = String(answer.id);
        stop();
        form.reset();
        hint.hidden = true;
        send.disabled = false;
        if (onDone) setTimeout(function () { onDone(true); }, 1500);
      }, function (err) {
        send.disabled = false;
        note.textContent = err.message;
        if (err.queued) { form.dataset.queued = "1"; stop(); form.reset(); hint.hidden = true; }
      });
    });
    form.stop = stop;
    return form;
  }

  // everything one facility offers: "still here" and "report a problem"
  function panel(feature, map, opts) {
    opts = opts || {};
    var p = feature.properties;
    var note = el("p", { class: "feedback-note", role: "status", "aria-live": "polite" });
    var box = el("div", { class: "feedback-panel" });
    var open = el("button", { type: "button", class: "report", "data-action": "report",
      "aria-label": t("report_problem_of", { name: p.name }), text: t("report_problem") });
    var row = el("p", { class: "links feedback-buttons" }, [stillHere(feature, note), open]);
    box.appendChild(row);
    box.appendChild(note);
    // the form opens here, or in ``opts.formHost`` (the finder: beside the map, since a
    // popup is too small for it)
    open.addEventListener("click", function () {
      var host = opts.formHost;
      var form = reportForm(feature, map, function () {
        form.remove();
        if (host) host.hidden = true;
        else { row.hidden = false; open.focus(); }
      });
      if (host) {
        Array.prototype.forEach.call(host.querySelectorAll("form.report-form"), function (old) {
          if (old.stop) old.stop();
          old.remove();
        });
        form.insertBefore(el("h2", { text: t("report_problem_of", { name: p.name }) }), form.firstChild);
        host.appendChild(form);
        host.hidden = false;
      } else {
        row.hidden = true;
        box.appendChild(form);
      }
      if (opts.onOpen) opts.onOpen(form);
      var first = form.querySelector("input[name=kind]");
      if (first) first.focus();
    });
    if (opts.formOpen) {
      row.removeChild(open);
      box.appendChild(reportForm(feature, map, null));
    }
    return box;
  }

  // "suggest a station here": a pin at the map's centre, dragged to the place, and a text
  function suggestTool(map, container) {
    var b = el("button", { type: "button", id: "sm-suggest-place", text: t("suggest_place") });
    var pin = null, form = null;
    function close() { if (pin) pin.remove(); if (form) form.remove(); pin = form = null; b.hidden = false; }
    b.addEventListener("click", function () {
      b.hidden = true;
      pin = movePin(map, map.getCenter(), "suggest");
      var note = el("p", { class: "feedback-note", role: "status", "aria-live": "polite" });
      var id = "sm-s" + (++n);
      form = el("form", { class: "suggest-form", id: "sm-suggest-form" }, [
        el("h2", { text: t("suggest_title") }),
        el("p", { class: "hint", text: t("suggest_hint") }),
        el("label", { for: id + "-text", text: t("suggest_text") }),
        el("textarea", { id: id + "-text", name: "text", maxlength: "500", rows: "2" }),
        el("div", { class: "hp" }, [
          el("label", { for: id + "-website", text: t("honeypot") }),
          el("input", { id: id + "-website", name: "website", type: "text", tabindex: "-1", autocomplete: "off" }),
        ]),
        el("p", { class: "actions" }, [
          el("button", { type: "submit", class: "primary", text: t("report_send") }),
          el("button", { type: "button", class: "cancel", text: t("report_cancel"), on: { click: close } }),
        ]),
        note,
      ]);
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var ll = pin.getLatLng();
        var body = { lon: ll.lng, lat: ll.lat, datum: cfg.datum, text: form.elements.text.value,
          website: form.elements.website.value };
        note.textContent = t("report_sending");
        SM.feedback.post(api.suggestions, body).then(function (answer) {
          note.textContent = t("suggest_sent");
          form.dataset.sent = String(answer.id);
          setTimeout(close, 1500);
        }, function (err) { note.textContent = err.message; });
      });
      container.appendChild(form);
      form.querySelector("textarea").focus();
    });
    container.appendChild(b);
    return { button: b, pin: function () { return pin; } };
  }

  SM.feedback = {
    enabled: !!api.reports, post: post, panel: panel, reportForm: reportForm,
    stillHere: stillHere, suggestTool: suggestTool,
  };
})();
