import "fake-indexeddb/auto";
import { beforeEach, describe, expect, it } from "vitest";
import { createOutbox, flushStore, idbStore, resetDBForTests, type OutboxItem, type OutboxStore, type Sender } from "../src/outbox";

function memoryStore(): OutboxStore & { items: Map<string, OutboxItem> } {
  const items = new Map<string, OutboxItem>();
  return {
    items,
    async all() {
      return [...items.values()];
    },
    async put(item) {
      items.set(item.id, structuredClone(item));
    },
    async remove(id) {
      items.delete(id);
    },
  };
}

function item(id: string, createdAt: string, user = "u1"): OutboxItem {
  return { id, user, kind: "checkin", url: "/api/v1/episodes/e/check-ins/", body: { id, axial_pain: 3 }, createdAt, state: "pending", attempts: 0 };
}

/** A fake API that stores by id exactly as the server does: 201 new, 200 same body, 409 other body. */
function fakeServer() {
  const stored = new Map<string, string>();
  let down = false;
  let loseNextResponse = false;
  const calls: string[] = [];
  const send: Sender = async (_url, body) => {
    const id = String(body.id);
    calls.push(id);
    if (down) throw new TypeError("Failed to fetch");
    const json = JSON.stringify(body);
    let status: number;
    if (typeof body.axial_pain === "number" && body.axial_pain > 10) {
      return { status: 400, data: { errors: { axial_pain: ["Ensure this value is less than or equal to 10."] } } };
    }
    if (!stored.has(id)) {
      stored.set(id, json);
      status = 201;
    } else status = stored.get(id) === json ? 200 : 409;
    if (loseNextResponse) {
      // The write was committed but the connection dropped before the answer arrived (a restart).
      loseNextResponse = false;
      throw new TypeError("connection reset");
    }
    return { status, data: status === 409 ? { errors: { id: ["conflict"] } } : body };
  };
  return {
    send,
    stored,
    calls,
    setDown: (value: boolean) => {
      down = value;
    },
    loseNext: () => {
      loseNextResponse = true;
    },
  };
}

describe("flushStore", () => {
  it("sends pending items oldest first and removes them once stored", async () => {
    const store = memoryStore();
    const server = fakeServer();
    await store.put(item("b", "2026-01-01T10:00:01Z"));
    await store.put(item("a", "2026-01-01T10:00:00Z"));
    const result = await flushStore(store, server.send, "u1");
    expect(result.sent).toEqual(["a", "b"]);
    expect(server.calls).toEqual(["a", "b"]);
    expect(store.items.size).toBe(0);
    expect(server.stored.size).toBe(2);
  });

  it("keeps everything and stops at the first network failure", async () => {
    const store = memoryStore();
    const server = fakeServer();
    server.setDown(true);
    await store.put(item("a", "2026-01-01T10:00:00Z"));
    await store.put(item("b", "2026-01-01T10:00:01Z"));
    const result = await flushStore(store, server.send, "u1");
    expect(result.stoppedBy).toBe("network");
    expect(server.calls).toEqual(["a"]);
    expect(store.items.get("a")?.attempts).toBe(1);
    expect(store.items.get("b")?.state).toBe("pending");
  });

  it("stores exactly once when the server restarts after committing but before answering", async () => {
    const store = memoryStore();
    const server = fakeServer();
    await store.put(item("a", "2026-01-01T10:00:00Z"));
    server.loseNext();
    const first = await flushStore(store, server.send, "u1");
    expect(first.stoppedBy).toBe("network");
    expect(store.items.has("a")).toBe(true);
    const second = await flushStore(store, server.send, "u1");
    expect(second.sent).toEqual(["a"]);
    expect(server.stored.size).toBe(1);
    expect(server.calls).toEqual(["a", "a"]);
    expect(store.items.size).toBe(0);
  });

  it("marks a 409 as a conflict, keeps its data and never resends it", async () => {
    const store = memoryStore();
    const server = fakeServer();
    server.stored.set("a", JSON.stringify({ id: "a", axial_pain: 7 }));
    await store.put(item("a", "2026-01-01T10:00:00Z"));
    await store.put(item("b", "2026-01-01T10:00:01Z"));
    const result = await flushStore(store, server.send, "u1");
    expect(result.conflicts).toEqual(["a"]);
    expect(result.sent).toEqual(["b"]);
    expect(store.items.get("a")?.state).toBe("conflict");
    expect(store.items.get("a")?.body).toEqual({ id: "a", axial_pain: 3 });
    await flushStore(store, server.send, "u1");
    expect(server.calls.filter((id) => id === "a")).toHaveLength(1);
  });

  it("marks a 400 as rejected with the field errors and carries on with the rest", async () => {
    const store = memoryStore();
    const server = fakeServer();
    const bad = item("a", "2026-01-01T10:00:00Z");
    bad.body = { id: "a", axial_pain: 11 };
    await store.put(bad);
    await store.put(item("b", "2026-01-01T10:00:01Z"));
    const result = await flushStore(store, server.send, "u1");
    expect(result.rejected).toEqual(["a"]);
    expect(result.sent).toEqual(["b"]);
    expect(store.items.get("a")?.errors).toEqual({ axial_pain: ["Ensure this value is less than or equal to 10."] });
  });

  it("stops on 401 and on 5xx without marking anything", async () => {
    for (const status of [401, 503]) {
      const store = memoryStore();
      await store.put(item("a", "2026-01-01T10:00:00Z"));
      const result = await flushStore(store, async () => ({ status, data: null }), "u1");
      expect(result.stoppedBy).toBe(status === 401 ? "auth" : "server");
      expect(store.items.get("a")?.state).toBe("pending");
    }
  });

  it("only sends the signed-in user's items", async () => {
    const store = memoryStore();
    const server = fakeServer();
    await store.put(item("mine", "2026-01-01T10:00:00Z", "u1"));
    await store.put(item("theirs", "2026-01-01T10:00:00Z", "u2"));
    await flushStore(store, server.send, "u1");
    expect(server.calls).toEqual(["mine"]);
    expect(store.items.has("theirs")).toBe(true);
  });
});

describe("createOutbox over IndexedDB", () => {
  beforeEach(async () => {
    resetDBForTests();
    for (const existing of await idbStore.all()) await idbStore.remove(existing.id);
  });

  it("survives a reload: items written before are sent by a new outbox", async () => {
    const server = fakeServer();
    server.setDown(true);
    const before = createOutbox(idbStore, server.send, () => "u1");
    await before.enqueue({ id: "x", user: "u1", kind: "exercise_log", url: "/x/", body: { id: "x" } });
    expect((await before.flush()).stoppedBy).toBe("network");
    resetDBForTests();
    server.setDown(false);
    const after = createOutbox(idbStore, server.send, () => "u1");
    expect((await after.items()).map((i) => i.id)).toEqual(["x"]);
    expect((await after.flush()).sent).toEqual(["x"]);
    expect(await after.items()).toEqual([]);
    expect(server.stored.size).toBe(1);
  });

  it("runs one flush at a time: concurrent calls share it and send each item once", async () => {
    const server = fakeServer();
    const outbox = createOutbox(idbStore, server.send, () => "u1");
    await outbox.enqueue({ id: "y", user: "u1", kind: "checkin", url: "/y/", body: { id: "y" } });
    const [first, second] = await Promise.all([outbox.flush(), outbox.flush()]);
    expect(first).toBe(second);
    expect(server.calls).toEqual(["y"]);
  });
});
