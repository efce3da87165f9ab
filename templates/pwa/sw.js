// Praisewall's service worker. It keeps the shell (the offline page, styles, scripts, icons) for
// offline use. Pages always come from the network, since they can be personal, and fall back to
// the offline page; form posts are never touched, so the outbox in app.js sees real failures.
"use strict";
const CACHE = "praisewall-shell-" + {{ version | tojson }};
const OFFLINE = {{ offline_url | tojson }};
const STATIC = {{ static_prefix | tojson }};
const SHELL = {{ shell | tojson }};

self.addEventListener("install", (event) => {
  // Without cookies, so the cached offline page is the same for everyone on the device.
  const requests = [OFFLINE, ...SHELL].map((url) => new Request(url, { credentials: "omit", cache: "reload" }));
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(requests)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((key) => key.startsWith("praisewall-") && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") { return; }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() =>
      caches.open(CACHE).then((cache) => cache.match(OFFLINE)).then((page) => page || Response.error())));
  } else if (url.pathname.startsWith(STATIC) && url.searchParams.has("v")) {
    // A versioned static URL names one content for good, so the copy kept is always right.
    event.respondWith(caches.open(CACHE).then((cache) => cache.match(request).then((hit) => hit ||
      fetch(request).then((response) => {
        if (response.ok) { cache.put(request, response.clone()); }
        return response;
      }))));
  }
});
