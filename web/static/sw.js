/* servicemap's service worker: the finder keeps working without a signal.

   - public pages (the finder "/" and facility pages "/f/..."): network first; offline, the
     last copy of the page (its query ignored), else the finder's own page; the planner's
     pages are never kept;
   - /vendor/... (versioned): cache first; /static/...: network first, cache offline;
   - /api/facilities: network first, and each answer is kept with the time it was fetched;
     offline, the kept answer comes back with the header X-Servicemap-Offline: 1 and
     X-Servicemap-Fetched-At (ISO time), so the page can say "as of <time>";
   - everything else goes to the network untouched.
   - reports made offline wait in IndexedDB (offline-queue.js, loaded here too) and are
     sent on Background Sync ("sm-outbox"); the pages also send them on 'online' and load.
   The page asks for its shell (its own URL, scripts, styles, icons) and its facility list
   to be saved with a message {type: "precache", shell: [...], data: [...]} and gets
   {type: "precached"} back. */
"use strict";

var VERSION = "sm-1";
var SHELL = VERSION + "-shell";
var DATA = VERSION + "-data";
var FETCHED = "X-Servicemap-Fetched-At";

importScripts("/static/offline-queue.js");

self.addEventListener("sync", function (event) {
  if (event.tag !== self.SMQueue.TAG) return;
  // what is still kept (offline again, or a server error) makes the browser try later
  event.waitUntil(self.SMQueue.flush().then(function (r) {
    if (r.left) throw new Error(r.left + " report(s) still waiting");
  }));
});

self.addEventListener("install", function () { self.skipWaiting(); });

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) { return k.indexOf(VERSION + "-") !== 0; })
        .map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function sameOrigin(url) { return new URL(url, self.location.href).origin === self.location.origin; }

function stamped(response) {
  // a copy of the answer carrying the time it was fetched
  return response.clone().blob().then(function (body) {
    var headers = new Headers(response.headers);
    headers.set(FETCHED, new Date().toISOString());
    return new Response(body, { status: response.status, statusText: response.statusText, headers: headers });
  });
}

function keepData(request, response) {
  if (!response.ok) return Promise.resolve();
  return stamped(response).then(function (copy) {
    return caches.open(DATA).then(function (c) { return c.put(request, copy); });
  });
}

function offlineCopy(cached) {
  var headers = new Headers(cached.headers);
  headers.set("X-Servicemap-Offline", "1");
  return cached.blob().then(function (body) {
    return new Response(body, { status: cached.status, statusText: cached.statusText, headers: headers });
  });
}

function precache(msg) {
  var shell = (msg.shell || []).filter(sameOrigin);
  var data = (msg.data || []).filter(sameOrigin);
  return caches.open(SHELL).then(function (c) {
    return Promise.all(shell.map(function (u) {
      return fetch(u, { credentials: "same-origin" }).then(function (r) {
        if (r.ok) return c.put(u, r);
      });
    }));
  }).then(function () {
    return Promise.all(data.map(function (u) {
      var req = new Request(u, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      return fetch(req).then(function (r) { return keepData(req, r); });
    }));
  });
}

self.addEventListener("message", function (event) {
  var msg = event.data || {};
  if (msg.type !== "precache") return;
  var port = event.ports && event.ports[0];
  event.waitUntil(precache(msg).then(function () {
    if (port) port.postMessage({ type: "precached" });
  }, function (err) {
    if (port) port.postMessage({ type: "failed", message: String(err) });
  }));
});

function networkFirst(request, cacheName) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(cacheName).then(function (c) { c.put(request, copy); });
    }
    return response;
  }, function (err) {
    return caches.match(request, { cacheName: cacheName }).then(function (hit) {
      if (hit) return hit;
      throw err;
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET" || !sameOrigin(request.url)) return;
  var url = new URL(request.url);
  var publicPage = url.pathname === "/" || url.pathname.indexOf("/f/") === 0;
  if (request.mode === "navigate") {
    // only the public pages are kept: the planner's never lands in a phone's cache
    if (!publicPage) return;
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok) {
        var copy = response.clone();
        caches.open(SHELL).then(function (c) { c.put(request, copy); });
      }
      return response;
    }, function (err) {
      return caches.match(request, { cacheName: SHELL, ignoreSearch: true }).then(function (hit) {
        return hit || caches.match(new URL("/", self.location.href).href, { cacheName: SHELL, ignoreSearch: true });
      }).then(function (hit) { if (hit) return hit; throw err; });
    }));
  } else if (url.pathname.indexOf("/vendor/") === 0) {
    event.respondWith(caches.match(request, { cacheName: SHELL }).then(function (hit) {
      return hit || networkFirst(request, SHELL);
    }));
  } else if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.webmanifest") {
    event.respondWith(networkFirst(request, SHELL));
  } else if (url.pathname === "/api/facilities") {
    event.respondWith(fetch(request).then(function (response) {
      keepData(request, response.clone());
      return response;
    }, function (err) {
      return caches.match(request, { cacheName: DATA }).then(function (hit) {
        if (hit) return offlineCopy(hit);
        throw err;
      });
    }));
  }
});
