/**
 * What a notification click does, apart from the service worker's event plumbing so Vitest can run
 * it (headless Chromium cannot click a system notification). Imported by src/sw.ts only: the build
 * refuses a chunk shared between the worker and the page.
 */

/** The same-origin page a notification's data.url points to; anything else (another origin, a
 * javascript: URL, garbage) opens the app's start page, so a payload cannot send the patient away. */
export function notificationTarget(data: unknown, origin: string): string {
  const fallback = new URL("/app/", origin).href;
  const raw = data && typeof data === "object" && "url" in data ? (data as { url: unknown }).url : null;
  if (typeof raw !== "string" || raw === "") return fallback;
  let target: URL;
  try {
    target = new URL(raw, origin);
  } catch {
    return fallback;
  }
  return target.origin === origin ? target.href : fallback;
}

export interface WindowLike {
  url: string;
  focus(): Promise<unknown>;
  navigate(url: string): Promise<unknown>;
}

export interface ClientsLike {
  matchAll(options: { type: "window"; includeUncontrolled: boolean }): Promise<readonly WindowLike[]>;
  openWindow(url: string): Promise<unknown>;
}

/** Focus an open window of the app and move it to `href`, else open a new one. The app maps the
 * server's paths (/reminders/, /episodes/{id}/check-ins/new/, ...) to its screens (router.ts). */
export async function openFromNotification(clients: ClientsLike, href: string, origin: string): Promise<"focused" | "opened"> {
  const windows = await clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).origin === origin) {
      await client.focus();
      await client.navigate(href);
      return "focused";
    }
  }
  await clients.openWindow(href);
  return "opened";
}
