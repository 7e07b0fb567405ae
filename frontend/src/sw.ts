/// <reference lib="webworker" />
/**
 * The service worker (served at /sw.js, scope /). Hand-written, no library:
 * - install: precache the app listed by the build (vite.config.ts writes it in place of the
 *   placeholder below, with a version that changes with every build); activate drops older caches;
 * - navigations to the app's routes: the cached shell (it works offline; a new build ships a new
 *   worker, which refreshes it);
 * - API GETs: network first, falling back to the last good answer for this same URL, so screens read
 *   offline; sign-in and token endpoints are never cached; nothing but GET is ever touched (writes go
 *   to the page's outbox, not here);
 * - push: shows title and body with the payload's tag; a click opens the payload's url.
 */
import { type ClientsLike, notificationTarget, openFromNotification } from "./swclick";

declare const self: ServiceWorkerGlobalScope;

interface Precache {
  version: string;
  files: string[];
}

const PRECACHE = "__MOBILIZE_PRECACHE__" as unknown as Precache;
const SHELL_CACHE = `mobilize-shell-${PRECACHE.version}`;
const ASSET_CACHE = `mobilize-assets-${PRECACHE.version}`;
const API_CACHE = "mobilize-api";
const APP_ROUTES = /^\/(?:$|app(?:\/|$)|clinician\/|reminders\/|episodes\/)/;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      await cache.addAll(PRECACHE.files.map((url) => new Request(url, { cache: "reload" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        const old = (name.startsWith("mobilize-shell-") && name !== SHELL_CACHE) || (name.startsWith("mobilize-assets") && name !== ASSET_CACHE);
        if (old) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

function offlineAnswer(): Response {
  return new Response(JSON.stringify({ errors: { non_field_errors: ["You are offline."] } }), {
    status: 503,
    headers: { "Content-Type": "application/json", "X-Mobilize-Offline": "1" },
  });
}

async function networkFirst(request: Request): Promise<Response> {
  const cache = await caches.open(API_CACHE);
  try {
    const response = await fetch(request);
    if (response.status === 200) await cache.put(request, response.clone());
    else if (response.status === 401 || response.status === 403) await caches.delete(API_CACHE);
    return response;
  } catch {
    return (await cache.match(request)) ?? offlineAnswer();
  }
}

async function shell(): Promise<Response> {
  const cached = await caches.match("/index.html");
  if (cached) return cached;
  return fetch("/index.html");
}

async function cacheFirstAsset(request: Request): Promise<Response> {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await (await caches.open(ASSET_CACHE)).put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    if (APP_ROUTES.test(url.pathname)) event.respondWith(shell());
    return;
  }
  if (url.pathname.startsWith("/api/v1/")) {
    if (url.pathname.startsWith("/api/v1/auth/")) return;
    event.respondWith(networkFirst(request));
    return;
  }
  if (url.pathname.startsWith("/assets/") || url.pathname.startsWith("/icons/")) {
    event.respondWith(cacheFirstAsset(request));
  }
});

interface PushPayload {
  title?: string;
  body?: string;
  url?: string;
  tag?: string;
}

self.addEventListener("push", (event) => {
  let payload: PushPayload = {};
  try {
    payload = (event.data?.json() ?? {}) as PushPayload;
  } catch {
    payload = { body: event.data?.text() ?? "" };
  }
  const options: NotificationOptions = {
    body: payload.body ?? "",
    icon: "/icons/icon-192.png",
    data: { url: payload.url || "/app/" },
  };
  if (payload.tag) options.tag = payload.tag;
  event.waitUntil(self.registration.showNotification(payload.title || "Mobilize", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const origin = self.location.origin;
  const href = notificationTarget(event.notification.data, origin);
  event.waitUntil(openFromNotification(self.clients as unknown as ClientsLike, href, origin));
});
