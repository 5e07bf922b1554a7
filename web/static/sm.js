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

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) {
            var msg = body && body.error ? body.error.message : "HTTP " + r.status;
            var err = new Error(msg);
            err.status = r.status;
            throw err;
          }
          return body;
        });
      });
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

  function typeClass(key) { return "sm-type-" + String(key).replace(/[^a-z0-9_]/g, "_"); }

  function pin(typeKey, extra) {
    return L.divIcon({
      className: "sm-pin " + typeClass(typeKey) + (extra ? " " + extra : ""),
      iconSize: [16, 16],
    });
  }

  function fmtDistance(m) {
    if (m === null || m === undefined) return "";
    return m < 1000 ? Math.round(m) + " m" : (m / 1000).toFixed(m < 10000 ? 1 : 0) + " km";
  }

  function fmtInt(n) {
    if (n === null || n === undefined) return "—";
    return Math.round(n).toLocaleString(cfg.lang === "en" ? "en-GB" : "zh-CN");
  }

  function fmtShare(s) {
    return s === null || s === undefined ? "—" : (s * 100).toFixed(1) + "%";
  }

  function safeHref(u) { return /^https:\/\//.test(String(u)) ? String(u) : "#"; }

  window.SM = {
    cfg: cfg, t: t, el: el, getJSON: getJSON, query: query, pin: pin, typeClass: typeClass,
    fmtDistance: fmtDistance, fmtInt: fmtInt, fmtShare: fmtShare, safeHref: safeHref,
    map: function () { return window[cfg.map]; },
    // GeoJSON [lon, lat] -> Leaflet LatLng, by Leaflet's own helper
    latLng: function (coords) { return L.GeoJSON.coordsToLatLng(coords); },
  };
})();
