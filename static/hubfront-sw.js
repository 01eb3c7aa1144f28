// Hubfront's service worker (hub_ext.portal.desktop.pwa): it keeps the portal's app shell, its own CSS,
// JS and icons, for when the hub is out of reach. Nothing else is ever cached: no page (pages carry the
// user's data), no API answer, nothing of a user's server. The hub puts self.HUBFRONT_SHELL in front:
// {cache, scope, shell: [paths], never: [path prefixes]}.
/* global self, caches, fetch, Response, URL */
"use strict";
var CONFIG = self.HUBFRONT_SHELL;
var SHELL = new Set(CONFIG.shell);

function never(url) {
  return CONFIG.never.some(function (prefix) { return url.pathname.indexOf(prefix) === 0; });
}

function isShell(url) {
  return url.origin === self.location.origin && SHELL.has(url.pathname);
}

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CONFIG.cache).then(function (cache) {
    // one by one: a file missing from a release must not stop the worker from installing
    return Promise.all(CONFIG.shell.map(function (path) {
      return fetch(path, { credentials: "omit" }).then(function (answer) {
        if (answer.ok) return cache.put(path, answer);
      }).catch(function () {});
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("hubfront-shell-") === 0 && name !== CONFIG.cache;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

var OFFLINE = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Hubfront</title>" +
  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>" +
  "<body style=\"font-family: system-ui, sans-serif; margin: 3rem; color: #212529\">" +
  "<h1 style=\"font-size: 1.4rem\">Hubfront is out of reach</h1>" +
  "<p>This computer cannot reach the hub right now. Check the network, then reload.</p>" +
  "<button onclick=\"location.reload()\">Reload</button></body></html>";

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (never(url)) return; // the API and users' servers: straight to the network, untouched
  if (isShell(url)) {
    // the network first (a new release shows at once); the kept copy only when the hub does not answer
    event.respondWith(fetch(request).then(function (answer) {
      if (answer.ok && answer.type === "basic") {
        var copy = answer.clone();
        caches.open(CONFIG.cache).then(function (cache) { cache.put(url.pathname, copy); });
      }
      return answer;
    }).catch(function () {
      return caches.match(url.pathname).then(function (kept) { return kept || Response.error(); });
    }));
  } else if (request.mode === "navigate" && url.origin === self.location.origin) {
    // a page: always from the hub; only when it cannot be reached, a plain note (never a kept page)
    event.respondWith(fetch(request).catch(function () {
      return new Response(OFFLINE, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
    }));
  }
});
