/* servicemap page helpers. Every piece of data text reaches the page through textContent
   or setAttribute, never through innerHTML: names and addresses are shown as text. */
(function () {
  "use strict";
  var cfgEl = document.getElementById("sm-config");
  var cfg = cfgEl ? JSON.parse(cfgEl.textContent) : {};

  function t(key, values) {
    var s = (cfg.strings && cfg.strings[key]) || key;
    if (values) {
      Object.keys(values).forEach(function (k) { s = s.split("{" + k + "}").join(String(values[k])); });
    }
    return s;
  }

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === "text") e.textContent = String(v);
      else if (k === "class") e.className = String(v);
      else if (k === "on") Object.keys(v).forEach(function (ev) { e.addEventListener(ev, v[ev]); });
      else e.setAttribute(k, v === true ? "" : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }

  // errors in the page's language: a network failure is not "Failed to fetch"; an answer
  // of the API that is not OK names its status, and keeps its body (.body)
  function answerError(r, body) {
    var detail = body && body.error ? body.error.message : "";
    var err = new Error(r.status >= 500 ? t("err_server", { status: r.status })
      : t("err_request", { status: r.status, message: detail }));
    err.status = r.status;
    err.body = body;
    return err;
  }

  function networkError() {
    var err = new Error(t("err_network"));
    err.network = true;
    return err;
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (body) {
          if (!r.ok) throw answerError(r, body);
          if (body && r.headers.get("X-Servicemap-Offline")) {
            // an answer the service worker kept: when it was fetched
            Object.defineProperty(body, "offlineAsOf", {
              value: r.headers.get("X-Servicemap-Fetched-At") || "", enumerable: false,
            });
          }
          return body;
        });
      }, function () { throw networkError(); });
  }

  // the page's CSRF token (base.html's <meta name="csrf-token">)
  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") || "" : "";
  }

  // every write of every script: JSON in and out, the CSRF header, this site's cookies.
  // Resolves with the answer's JSON; rejects with an Error in the page's language that
  // carries .status and .body (a 409 has .body.current and .body.proposed to show both).
  function send(method, url, body, headers) {
    var h = { Accept: "application/json", "X-CSRFToken": csrfToken() };
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    var init = { method: method, headers: h, credentials: "same-origin" };
    if (body !== undefined && body !== null) {
      h["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (answer) {
        if (!r.ok) throw answerError(r, answer);
        return answer;
      });
    }, function () { throw networkError(); });
  }

  function query(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v === null || v === undefined || v === "") return;
      if (Array.isArray(v)) { if (v.length) q.set(k, v.join(",")); }
      else q.set(k, String(v));
    });
    return q.toString();
  }

  // an amenity's name; one not in the catalogue reads as its key in words
  function amenity(key) {
    var s = t("amenity_" + key);
    return s === "amenity_" + key ? String(key).split("_").join(" ") : s;
  }

  function typeClass(key) { return "sm-type-" + String(key).replace(/[^a-z0-9_]/g, "_"); }

  // a 44 px target (WCAG 2.5.5) with the coloured dot drawn in its middle
  function pin(typeKey, extra) {
    return L.divIcon({
      className: "sm-pin " + typeClass(typeKey) + (extra ? " " + extra : ""),
      iconSize: [44, 44],
    });
  }

  function fmtDistance(m) {
    if (m === null || m === undefined) return "";
    if (m < 1000) return t("unit_m", { n: Math.round(m) });
    return t("unit_km", { n: (m / 1000).toFixed(m < 10000 ? 1 : 0) });
  }

  function fmtInt(n) {
    if (n === null || n === undefined) return "—";
    return Math.round(n).toLocaleString(cfg.lang === "en" ? "en-GB" : "zh-CN");
  }

  function fmtShare(s) {
    return s === null || s === undefined ? "—" : (s * 100).toFixed(1) + "%";
  }

  function fmtTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "—";
    return d.toLocaleString(cfg.lang === "en" ? "en-GB" : "zh-CN", {
      timeZone: cfg.timezone || "Asia/Shanghai", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
  }

  function safeHref(u) { return /^https:\/\//.test(String(u)) ? String(u) : "#"; }

  // ------------------------------------------------------------------ opening hours
  // The same rules as geo.finder.describe_hours, applied to the open periods the API gives
  // (hours_open: [start, end] Unix seconds), so the words stay right offline and as time
  // passes: "每天 08:00–20:00，再过 25 分钟关门".
  var SOON_S = 60 * 60, WEEK_S = 7 * 86400;
  var partsFmt = null;
  function localParts(sec) {
    if (!partsFmt) {
      partsFmt = new Intl.DateTimeFormat("en-GB", {
        timeZone: cfg.timezone || "Asia/Shanghai", year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", weekday: "short", hourCycle: "h23",
      });
    }
    var out = {};
    partsFmt.formatToParts(new Date(sec * 1000)).forEach(function (p) { out[p.type] = p.value; });
    out.dayNo = Date.UTC(+out.year, +out.month - 1, +out.day) / 86400000;
    out.hm = out.hour + ":" + out.minute;
    out.wd = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].indexOf(out.weekday);
    return out;
  }

  function atWords(kind, change, now) {
    var c = localParts(change), n = localParts(now);
    var ahead = c.dayNo - n.dayNo;
    var same = kind === "open_until" ? "hours_w_open_until" : "hours_w_opens_at";
    var other = kind === "open_until" ? "hours_w_open_until_day" : "hours_w_opens_day";
    if (ahead === 0) return t(same, { time: c.hm });
    var day = ahead === 1 ? t("hours_w_tomorrow") : t("hours_w_days").split(" ")[c.wd];
    return t(other, { day: day, time: c.hm });
  }

  function hoursNow(p, nowMs) {
    var schedule = p.hours_text || t("hours_unknown");
    var spans = p.hours_open;
    if (!spans) return { state: "unknown", schedule: schedule, now: "", text: schedule };
    var now = Math.floor((nowMs === undefined ? Date.now() : nowMs) / 60000) * 60;
    function done(state, words) {
      return { state: state, schedule: schedule, now: words,
        text: t("hours_w_sentence", { schedule: schedule, now: words }) };
    }
    var i, cur = null, next = null;
    for (i = 0; i < spans.length; i++) {
      if (spans[i][0] <= now && now < spans[i][1]) { cur = spans[i]; break; }
      if (spans[i][0] > now) { next = spans[i][0]; break; }
    }
    if (cur) {
      if (cur[1] - now >= WEEK_S) return { state: "open", schedule: schedule, now: "", text: schedule };
      var left = Math.ceil((cur[1] - now) / 60);
      if (left * 60 <= SOON_S) return done("closing_soon", t("hours_w_closes_in", { n: left }));
      return done("open", atWords("open_until", cur[1], now));
    }
    if (next === null) return { state: "closed", schedule: schedule, now: t("hours_w_closed_now"), text: schedule };
    var wait = Math.ceil((next - now) / 60);
    if (wait * 60 <= SOON_S) return done("opening_soon", t("hours_w_opens_in", { n: wait }));
    return done("closed", atWords("opens", next, now));
  }

  function stateBadge(state) {
    if (state === "unknown") return null;
    return el("span", { class: "badge " + state.replace("_", "-"), text: t("state_" + state) });
  }

  // ------------------------------------------------------------------ maps
  // a metric scale bar in the page's units, in place of folium's metric + imperial one
  function metricScale(map) {
    Array.prototype.forEach.call(map.getContainer().querySelectorAll(".leaflet-control-scale"),
      function (n) { n.parentNode.removeChild(n); });
    var Scale = L.Control.Scale.extend({
      _updateMetric: function (maxMeters) {
        var meters = this._getRoundNum(maxMeters);
        var label = meters < 1000 ? t("unit_m", { n: meters }) : t("unit_km", { n: meters / 1000 });
        this._updateScale(this._mScale, label, meters / maxMeters);
      },
    });
    return new Scale({ metric: true, imperial: false }).addTo(map);
  }

  // a notice when the base map's tiles cannot load
  function watchTiles(map, notice) {
    if (!notice) return;
    var failed = 0;
    map.eachLayer(function (layer) {
      if (!(layer instanceof L.TileLayer)) return;
      layer.on("tileerror", function () {
        failed += 1;
        if (failed === 1) { notice.textContent = t("tiles_failed"); notice.hidden = false; }
      });
      layer.on("tileload", function () {
        if (failed) { failed = 0; notice.hidden = true; }
      });
    });
  }

  // areas are drawn for orientation: they are not focus stops; the map itself is named
  function tidyMap(map) {
    var box = map.getContainer();
    box.setAttribute("aria-label", t("map_label"));
    box.setAttribute("aria-roledescription", "map");
    box.setAttribute("role", "region");
    function untab() {
      Array.prototype.forEach.call(box.querySelectorAll("path.leaflet-interactive, svg"),
        function (p) { p.setAttribute("tabindex", "-1"); p.setAttribute("focusable", "false"); p.setAttribute("aria-hidden", "true"); });
      Array.prototype.forEach.call(box.querySelectorAll(".leaflet-control-zoom a"),
        function (a) {
          var zin = a.classList.contains("leaflet-control-zoom-in");
          a.setAttribute("aria-label", t(zin ? "zoom_in" : "zoom_out"));
          a.setAttribute("title", t(zin ? "zoom_in" : "zoom_out"));
        });
    }
    untab();
    map.on("zoomend moveend layeradd", untab);
    // the popup's close button, in the page's language
    map.on("popupopen", function (e) {
      var c = e.popup.getElement() && e.popup.getElement().querySelector(".leaflet-popup-close-button");
      if (c) { c.setAttribute("aria-label", t("close")); c.setAttribute("title", t("close")); }
    });
  }

  // ------------------------------------------------------------------ offline
  function registerOffline(dataUrls) {
    if (!("serviceWorker" in navigator) || !window.isSecureContext) return Promise.resolve(false);
    return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (reg) {
      var shell = [location.href];
      Array.prototype.forEach.call(document.querySelectorAll("script[src], link[rel=stylesheet], link[rel=icon], link[rel=manifest]"),
        function (n) { shell.push(n.src || n.href); });
      return new Promise(function (resolve) {
        var ch = new MessageChannel();
        ch.port1.onmessage = function (ev) { resolve(ev.data && ev.data.type === "precached"); };
        reg.active.postMessage({ type: "precache", shell: shell, data: dataUrls || [] }, [ch.port2]);
      });
    }).catch(function () { return false; });
  }

  window.SM = {
    cfg: cfg, t: t, el: el, getJSON: getJSON, query: query, pin: pin, typeClass: typeClass,
    fmtDistance: fmtDistance, fmtInt: fmtInt, fmtShare: fmtShare, fmtTime: fmtTime, safeHref: safeHref,
    hoursNow: hoursNow, stateBadge: stateBadge, amenity: amenity,
    metricScale: metricScale, watchTiles: watchTiles, tidyMap: tidyMap,
    registerOffline: registerOffline, send: send, csrfToken: csrfToken,
    map: function () { return window[cfg.map]; },
    // GeoJSON [lon, lat] -> Leaflet LatLng, by Leaflet's own helper
    latLng: function (coords) { return L.GeoJSON.coordsToLatLng(coords); },
  };
})();
