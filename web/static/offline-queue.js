/* servicemap's outbox: a public report (or suggestion) made without a signal is kept in
   IndexedDB and sent when the network returns.

   One file for both sides: the pages load it as a script, and the service worker
   (sw.js) with importScripts, so the page and the worker send the same kept requests the
   same way.

   SMQueue.send(url, body) -> Promise of {status: "sent", response} or {status: "queued"}:
     posts `body` (a FormData, photo included, or a plain object sent as JSON) to `url`;
     when the network fails (or the browser says it is offline) the request is kept and
     "queued" comes back. Only the anonymous public POSTs are kept (/api/facilities/<id>/
     reports and /api/suggestions), with no cookie or token: they need none (CONTRACT.md).
   SMQueue.queue(url, body) -> Promise of {status: "queued"}: keeps it without trying (for a
     sender whose own fetch just failed for want of a network).
   SMQueue.flush() -> Promise of {sent, dropped, left}: sends what is kept, oldest first.
     An answer from the server (2xx, or a 4xx other than 408/429: a refusal that will not
     change) takes the request out of the outbox; a network failure, 408, 429 or 5xx
     keeps it for the next try. Each kept request is leased while it is being sent, so the
     page and the service worker never send one twice at once.
   SMQueue.count() -> Promise of the number kept.

   When they are flushed: on the page's 'online' event, on every page load, and by
   Background Sync (tag "sm-outbox") where the browser has it, so a report also leaves
   after the page is closed. The page hears about it (a message {type: "sm-outbox"}) and
   updates the notice "N reports waiting / 已发送". */
(function (root) {
  "use strict";
  var DB = "servicemap", STORE = "outbox", VERSION = 1, TAG = "sm-outbox";
  var LEASE_MS = 30000;
  var ALLOWED = /^\/api\/(facilities\/[^?#]+\/reports|suggestions)$/;

  function req2promise(r) {
    return new Promise(function (resolve, reject) {
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }

  function openDb() {
    return new Promise(function (resolve, reject) {
      var r = root.indexedDB.open(DB, VERSION);
      r.onupgradeneeded = function () {
        if (!r.result.objectStoreNames.contains(STORE)) {
          r.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
        }
      };
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }

  // run fn(store) in one transaction; resolves with fn's result when the transaction ends
  function tx(mode, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode), out;
        t.oncomplete = function () { db.close(); resolve(out); };
        t.onerror = t.onabort = function () { db.close(); reject(t.error); };
        Promise.resolve(fn(t.objectStore(STORE))).then(function (v) { out = v; }, reject);
      });
    });
  }

  function pathOf(url) { return new URL(url, root.location.href).pathname; }

  // a FormData or an object as something IndexedDB keeps (Blobs and Files are kept as is)
  function toItem(url, body) {
    var item = { url: pathOf(url), created: new Date().toISOString(), lease: 0, tries: 0 };
    if (typeof FormData !== "undefined" && body instanceof FormData) {
      item.kind = "form";
      item.entries = [];
      body.forEach(function (v, k) { item.entries.push([k, v]); });
    } else {
      item.kind = "json";
      item.body = JSON.stringify(body || {});
    }
    return item;
  }

  function toInit(item) {
    var init = { method: "POST", credentials: "omit", headers: { Accept: "application/json" } };
    if (item.kind === "form") {
      var fd = new FormData();
      item.entries.forEach(function (e) {
        if (e[1] instanceof Blob) fd.append(e[0], e[1], e[1].name || "photo");
        else fd.append(e[0], e[1]);
      });
      init.body = fd;
    } else {
      init.headers["Content-Type"] = "application/json";
      init.body = item.body;
    }
    return init;
  }

  function keep(item) {
    return tx("readwrite", function (s) { return req2promise(s.add(item)); }).then(function (id) {
      item.id = id;
      return registerSync().then(function () { return item; });
    });
  }

  function registerSync() {
    // Background Sync where there is one (Chromium); elsewhere 'online' and the next load
    var sw = root.navigator && root.navigator.serviceWorker;
    if (!sw || typeof root.document === "undefined") return Promise.resolve(false);
    return sw.getRegistration().then(function (reg) {
      if (!reg || !reg.sync) return false;
      return reg.sync.register(TAG).then(function () { return true; });
    }).catch(function () { return false; });
  }

  function count() {
    return tx("readonly", function (s) { return req2promise(s.count()); }).catch(function () { return 0; });
  }

  // take the lease of the oldest request nobody is sending; null when there is none
  function claim(now) {
    return tx("readwrite", function (s) {
      return req2promise(s.getAll()).then(function (items) {
        for (var i = 0; i < items.length; i++) {
          if (items[i].lease <= now) {
            items[i].lease = now + LEASE_MS;
            items[i].tries += 1;
            s.put(items[i]);
            return items[i];
          }
        }
        return null;
      });
    });
  }

  function release(item, done) {
    return tx("readwrite", function (s) {
      if (done) return req2promise(s.delete(item.id));
      item.lease = 0;
      return req2promise(s.put(item));
    });
  }

  var flushing = null;
  function flush() {
    if (flushing) return flushing;
    var result = { sent: 0, dropped: 0, left: 0 }, seen = {};
    function next() {
      return claim(Date.now()).then(function (item) {
        if (!item || seen[item.id]) return item && release(item, false);
        seen[item.id] = true;
        return fetch(item.url, toInit(item)).then(function (r) {
          var retry = r.status === 408 || r.status === 429 || r.status >= 500;
          if (!retry) { if (r.ok) result.sent += 1; else result.dropped += 1; }
          return release(item, !retry).then(function () { if (!retry) return next(); });
        }, function () { return release(item, false); });  // still offline: stop here
      });
    }
    flushing = next().catch(function () {}).then(count).then(function (left) {
      result.left = left;
      flushing = null;
      return announce(result);
    });
    return flushing;
  }

  // tell every page of the app (from the worker) or this page what the flush did
  function announce(result) {
    var msg = { type: TAG, sent: result.sent, dropped: result.dropped, left: result.left };
    if (root.clients && root.clients.matchAll) {
      return root.clients.matchAll({ includeUncontrolled: true }).then(function (cs) {
        cs.forEach(function (c) { c.postMessage(msg); });
        return result;
      });
    }
    if (typeof root.document !== "undefined") showNotice(msg);
    return Promise.resolve(result);
  }

  // keep a request that could not leave (its sender saw the network fail)
  function queue(url, body) {
    if (!ALLOWED.test(pathOf(url))) return Promise.reject(new Error("not a public report URL: " + url));
    return keep(toItem(url, body)).then(count).then(function (n) {
      showNotice({ type: TAG, sent: 0, dropped: 0, left: n });
      return { status: "queued" };
    });
  }

  function send(url, body) {
    if (!ALLOWED.test(pathOf(url))) return Promise.reject(new Error("not a public report URL: " + url));
    var offline = root.navigator && root.navigator.onLine === false;
    var item = toItem(url, body);
    var attempt = offline ? Promise.reject(new Error("offline")) : fetch(item.url, toInit(item));
    return attempt.then(function (response) {
      return { status: "sent", response: response };
    }, function () { return queue(url, body); });
  }

  // ------------------------------------------------------------------ the page's notice
  function t(key, values) {
    var SM = root.SM;
    return SM && SM.t ? SM.t(key, values) : key;
  }

  function showNotice(msg) {
    if (typeof root.document === "undefined") return;
    var doc = root.document, p = doc.getElementById("sm-outbox");
    if (!p) {
      var main = doc.querySelector("main");
      if (!main) return;
      p = doc.createElement("p");
      p.id = "sm-outbox";
      p.className = "notice outbox";
      p.setAttribute("role", "status");
      main.insertBefore(p, main.firstChild);
    }
    // the page and the worker may each send some: the notice counts what this page saw
    var sent = (Number(p.dataset.sent) || 0) + (msg.sent || 0);
    var dropped = (Number(p.dataset.dropped) || 0) + (msg.dropped || 0);
    var parts = [];
    if (sent) parts.push(t("outbox_sent", { n: sent }));
    if (dropped) parts.push(t("outbox_refused", { n: dropped }));
    if (msg.left) parts.push(t("outbox_waiting", { n: msg.left }));
    p.textContent = parts.join(" ");
    p.hidden = parts.length === 0;
    p.dataset.left = String(msg.left || 0);
    p.dataset.sent = String(sent);
    p.dataset.dropped = String(dropped);
  }

  root.SMQueue = { send: send, queue: queue, flush: flush, count: count, TAG: TAG, showNotice: showNotice };

  if (typeof root.document !== "undefined") {
    root.addEventListener("online", function () { flush(); });
    if (root.navigator.serviceWorker) {
      root.navigator.serviceWorker.addEventListener("message", function (ev) {
        if (ev.data && ev.data.type === TAG) showNotice(ev.data);
      });
    }
    // what an earlier visit kept, sent now (or its count shown while still offline)
    var start = function () {
      if (root.navigator.onLine === false) {
        count().then(function (n) { if (n) showNotice({ type: TAG, left: n }); });
      } else {
        flush();
      }
    };
    if (root.document.readyState === "loading") root.document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})(self);
