/** Client-side routes under /app/ (Django serves the shell for them), plus the paths push payloads carry. */
import { signal } from "./state";

export const path = signal<string>(typeof location === "undefined" ? "/app/" : location.pathname);

/** Maps a notification's url (recovery/reminders/services.py) to the app screen that handles it. */
export function appRouteFor(url: string): string {
  if (url.startsWith("/app/")) return url;
  if (url === "/" || url === "/app") return "/app/";
  if (url.startsWith("/clinician/")) return "/app/clinic/";
  if (url.startsWith("/reminders/")) return "/app/reminders/";
  if (/^\/episodes\/[^/]+\/check-ins\/new\/?$/.test(url)) return "/app/today/";
  if (/^\/episodes\/[^/]+\/plan\/today\/?$/.test(url)) return "/app/exercises/";
  if (/^\/episodes\/[^/]+\/questionnaires\/?$/.test(url)) return "/app/questionnaires/";
  return "/app/";
}

export function navigate(to: string, replace = false): void {
  const target = appRouteFor(to);
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  path.value = target;
  window.scrollTo(0, 0);
}

export function startRouter(): void {
  const mapped = appRouteFor(location.pathname);
  if (mapped !== location.pathname) history.replaceState(null, "", mapped + location.search + location.hash);
  path.value = mapped;
  window.addEventListener("popstate", () => {
    path.value = location.pathname;
  });
  document.addEventListener("click", (event) => {
    const anchor = (event.target as Element | null)?.closest?.("a");
    if (!anchor || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const href = anchor.getAttribute("href");
    if (!href || !href.startsWith("/app/") || anchor.target) return;
    event.preventDefault();
    navigate(href);
  });
}

export function match(pattern: RegExp, current: string): string[] | null {
  const result = pattern.exec(current);
  return result ? result.slice(1) : null;
}
