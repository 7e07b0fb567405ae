/** Who is signed in, the online state and the app's outbox (shared by every screen). */
import { ApiError, NetworkError, csrfToken, fetchCsrf, get, request } from "./api";
import { pickLang, setLang, type Lang } from "./i18n";
import { createOutbox, idbStore, kvGet, kvSet, type Sender } from "./outbox";
import { signal } from "./state";

export interface Me {
  id: string;
  email: string;
  name: string;
  role: "patient" | "physiotherapist" | "surgeon" | "clinic_admin";
  clinic: { id: string; name: string } | null;
  active_episode?: string | null;
  time_zone?: string;
  preferred_language?: string;
}

export const me = signal<Me | null>(null);
export const online = signal<boolean>(typeof navigator === "undefined" ? true : navigator.onLine);
export const pendingCount = signal<number>(0);

const ME_KEY = "me";

/** The signed-in user: from the API, else (offline) the last one seen on this device. */
export async function loadMe(): Promise<Me | null> {
  try {
    const current = await get<Me>("/api/v1/me/");
    await kvSet(ME_KEY, current);
    applyMe(current);
    return current;
  } catch (error) {
    if (error instanceof NetworkError) {
      const cached = (await kvGet<Me>(ME_KEY)) ?? null;
      applyMe(cached);
      return cached;
    }
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      await kvSet(ME_KEY, null);
      applyMe(null);
      return null;
    }
    throw error;
  }
}

const STAFF_LANG_KEY = "mobilize.staff-lang";

function storedStaffLang(): string | undefined {
  try {
    return localStorage.getItem(STAFF_LANG_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

/** The staff member's choice of language on this device (staff have no preferred_language). */
export function chooseStaffLang(next: Lang): void {
  try {
    localStorage.setItem(STAFF_LANG_KEY, next);
  } catch {
    // Storage refused (private mode): the choice lasts until the page is closed.
  }
  setLang(next);
}

export function applyMe(user: Me | null): void {
  me.value = user;
  if (user) setLang(pickLang(user.preferred_language ?? (user.role === "patient" ? undefined : storedStaffLang())));
  void refreshPending();
}

export async function signIn(email: string, password: string, otp?: string): Promise<Me> {
  await fetchCsrf();
  const body: Record<string, string> = { email, password };
  if (otp) body.otp = otp;
  const { data } = await request<Me>("POST", "/api/v1/auth/login/", body);
  await kvSet(ME_KEY, data);
  applyMe(data);
  void outbox.flush();
  return data;
}

export async function signOut(): Promise<void> {
  try {
    await request("POST", "/api/v1/auth/logout/");
  } catch {
    // Already signed out, or offline: forget locally anyway.
  }
  await kvSet(ME_KEY, null);
  if (typeof caches !== "undefined") await caches.delete("mobilize-api");
  applyMe(null);
}

const send: Sender = async (url, body) => {
  if (!csrfToken()) await fetchCsrf();
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  let data: unknown = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, data };
};

export const outbox = createOutbox(idbStore, send, () => me.value?.id ?? null);

export async function refreshPending(): Promise<void> {
  const items = await outbox.items();
  pendingCount.value = items.length;
}

outbox.onChange(() => void refreshPending());

let timer: ReturnType<typeof setInterval> | null = null;

export function startSync(): void {
  if (typeof window === "undefined" || timer) return;
  window.addEventListener("online", () => {
    online.value = true;
    void outbox.flush();
  });
  window.addEventListener("offline", () => {
    online.value = false;
  });
  // A flush every 30 s catches a server that came back without the browser noticing a change.
  timer = setInterval(() => {
    if (navigator.onLine) void outbox.flush();
  }, 30_000);
  void outbox.flush();
}
