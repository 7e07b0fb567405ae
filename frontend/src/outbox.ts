/**
 * The offline outbox: check-ins, exercise logs and questionnaire answers are written here first (in
 * IndexedDB), then sent. Each item carries the client UUID and the exact body it was made with, so a
 * replay is byte-for-byte the same write and the API answers 200 without storing it twice; that is
 * what makes "sent exactly once" hold across lost responses, reloads and server restarts.
 *
 * Outcomes per item:
 * - 200/201: stored on the server (201 first time, 200 a replay); the item is removed.
 * - 409: the same id was stored with other content (an edit elsewhere). Kept, marked "conflict",
 *   never resent automatically; the patient sees it and may remove it.
 * - 400 (and 404 for an episode that is no longer ours): the server will never accept it as it is.
 *   Kept, marked "rejected" with the server's field errors.
 * - 401/403: signed out; stop and keep everything pending until the next sign-in.
 * - a network failure, 408, 429 or 5xx: stop this run (the server is unreachable or busy); the
 *   items stay pending and are retried on the next run (online event, app start, timer).
 *
 * One run at a time per tab (an in-memory promise) and across tabs (Web Locks where available);
 * even so, overlapping runs would only replay, which the server absorbs.
 */
import { openDB, type DBSchema, type IDBPDatabase } from "idb";

export type OutboxKind = "checkin" | "exercise_log" | "questionnaire";
export type OutboxState = "pending" | "conflict" | "rejected";

export interface OutboxItem {
  id: string;
  user: string;
  kind: OutboxKind;
  url: string;
  body: Record<string, unknown>;
  createdAt: string;
  state: OutboxState;
  attempts: number;
  errors?: Record<string, string[]>;
}

export interface OutboxStore {
  all(): Promise<OutboxItem[]>;
  put(item: OutboxItem): Promise<void>;
  remove(id: string): Promise<void>;
}

/** Sends one write; resolves with the HTTP status, rejects only when the server could not be reached. */
export type Sender = (url: string, body: Record<string, unknown>) => Promise<{ status: number; data: unknown }>;

export interface FlushResult {
  sent: string[];
  conflicts: string[];
  rejected: string[];
  stoppedBy: "network" | "server" | "auth" | null;
}

function fieldErrors(data: unknown, status: number): Record<string, string[]> {
  if (data && typeof data === "object" && "errors" in data) {
    const errors = (data as { errors: unknown }).errors;
    if (errors && typeof errors === "object") return errors as Record<string, string[]>;
  }
  return { non_field_errors: [`HTTP ${status}`] };
}

export async function flushStore(store: OutboxStore, send: Sender, user: string): Promise<FlushResult> {
  const result: FlushResult = { sent: [], conflicts: [], rejected: [], stoppedBy: null };
  const items = (await store.all())
    .filter((item) => item.state === "pending" && item.user === user)
    .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  for (const item of items) {
    let status: number;
    let data: unknown;
    try {
      ({ status, data } = await send(item.url, item.body));
    } catch {
      await store.put({ ...item, attempts: item.attempts + 1 });
      result.stoppedBy = "network";
      return result;
    }
    if (status === 200 || status === 201) {
      await store.remove(item.id);
      result.sent.push(item.id);
    } else if (status === 409) {
      await store.put({ ...item, state: "conflict", attempts: item.attempts + 1, errors: fieldErrors(data, status) });
      result.conflicts.push(item.id);
    } else if (status === 401 || status === 403) {
      result.stoppedBy = "auth";
      return result;
    } else if (status === 408 || status === 429 || status >= 500) {
      await store.put({ ...item, attempts: item.attempts + 1 });
      result.stoppedBy = "server";
      return result;
    } else {
      await store.put({ ...item, state: "rejected", attempts: item.attempts + 1, errors: fieldErrors(data, status) });
      result.rejected.push(item.id);
    }
  }
  return result;
}

// --- IndexedDB ---------------------------------------------------------------------------------

interface MobilizeDB extends DBSchema {
  outbox: { key: string; value: OutboxItem };
  kv: { key: string; value: unknown };
}

let dbPromise: Promise<IDBPDatabase<MobilizeDB>> | null = null;

export function openMobilizeDB(name = "mobilize"): Promise<IDBPDatabase<MobilizeDB>> {
  if (!dbPromise) {
    dbPromise = openDB<MobilizeDB>(name, 1, {
      upgrade(db) {
        db.createObjectStore("outbox", { keyPath: "id" });
        db.createObjectStore("kv");
      },
    });
  }
  return dbPromise;
}

export function resetDBForTests(): void {
  dbPromise = null;
}

export const idbStore: OutboxStore = {
  async all() {
    return (await openMobilizeDB()).getAll("outbox");
  },
  async put(item) {
    await (await openMobilizeDB()).put("outbox", item);
  },
  async remove(id) {
    await (await openMobilizeDB()).delete("outbox", id);
  },
};

export async function kvGet<T>(key: string): Promise<T | undefined> {
  return (await (await openMobilizeDB()).get("kv", key)) as T | undefined;
}

export async function kvSet(key: string, value: unknown): Promise<void> {
  await (await openMobilizeDB()).put("kv", value, key);
}

// --- The queue the app uses ----------------------------------------------------------------------

export interface Outbox {
  enqueue(item: Omit<OutboxItem, "state" | "attempts" | "createdAt"> & { createdAt?: string }): Promise<OutboxItem>;
  flush(): Promise<FlushResult>;
  items(): Promise<OutboxItem[]>;
  discard(id: string): Promise<void>;
  onChange(listener: () => void): () => void;
}

export function createOutbox(store: OutboxStore, send: Sender, currentUser: () => string | null): Outbox {
  const listeners = new Set<() => void>();
  let running: Promise<FlushResult> | null = null;
  const changed = (): void => {
    for (const listener of [...listeners]) listener();
  };

  async function runExclusive(): Promise<FlushResult> {
    const user = currentUser();
    if (!user) return { sent: [], conflicts: [], rejected: [], stoppedBy: "auth" };
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    if (locks) {
      return locks.request("mobilize-outbox", () => flushStore(store, send, user));
    }
    return flushStore(store, send, user);
  }

  return {
    async enqueue(partial) {
      const item: OutboxItem = {
        ...partial,
        createdAt: partial.createdAt ?? new Date().toISOString(),
        state: "pending",
        attempts: 0,
      };
      await store.put(item);
      changed();
      return item;
    },
    flush() {
      if (!running) {
        running = runExclusive().finally(() => {
          running = null;
          changed();
        });
      }
      return running;
    },
    async items() {
      const user = currentUser();
      return (await store.all()).filter((item) => item.user === user);
    },
    async discard(id) {
      await store.remove(id);
      changed();
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
