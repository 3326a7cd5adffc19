import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { errorMessage, localTokenStore, normalizeToken, TOKEN_KEY, withBearer, type TokenStore } from "./auth";
import { LiveStore } from "./store";

class MemoryStorage {
  items = new Map<string, string>();
  getItem(k: string) {
    return this.items.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.items.set(k, v);
  }
  removeItem(k: string) {
    this.items.delete(k);
  }
}

const broken = {
  getItem(): string | null {
    throw new Error("SecurityError");
  },
  setItem() {
    throw new Error("QuotaExceededError");
  },
  removeItem() {
    throw new Error("SecurityError");
  },
};

describe("normalizeToken", () => {
  it("drops spaces and a leading Bearer", () => {
    expect(normalizeToken("  abc \n")).toBe("abc");
    expect(normalizeToken("Bearer abc")).toBe("abc");
    expect(normalizeToken("bearer   abc ")).toBe("abc");
    expect(normalizeToken("   ")).toBe("");
    expect(normalizeToken("Bearerish")).toBe("Bearerish");
  });
});

describe("withBearer", () => {
  it("adds the header and keeps the others", () => {
    const init = withBearer({ headers: { Accept: "application/json" }, cache: "no-store" }, "t0k");
    const h = new Headers(init.headers);
    expect(h.get("Authorization")).toBe("Bearer t0k");
    expect(h.get("Accept")).toBe("application/json");
    expect(init.cache).toBe("no-store");
  });
  it("leaves a request alone without a token", () => {
    const init = { headers: { Accept: "application/json" } };
    expect(withBearer(init, null)).toBe(init);
    expect(new Headers(withBearer(undefined, null).headers).has("Authorization")).toBe(false);
  });
});

describe("localTokenStore", () => {
  it("saves, loads and clears under its key", () => {
    const storage = new MemoryStorage();
    const s = localTokenStore(storage);
    expect(s.load()).toBeNull();
    s.save("secret");
    expect(storage.items.get(TOKEN_KEY)).toBe("secret");
    expect(localTokenStore(storage).load()).toBe("secret");
    s.clear();
    expect(s.load()).toBeNull();
    storage.setItem(TOKEN_KEY, "   ");
    expect(s.load()).toBeNull();
  });
  it("treats missing or refusing storage as empty", () => {
    for (const s of [localTokenStore(undefined), localTokenStore(broken)]) {
      expect(s.load()).toBeNull();
      expect(() => s.save("x")).not.toThrow();
      expect(() => s.clear()).not.toThrow();
    }
  });
});

describe("errorMessage", () => {
  it("reads both error shapes", async () => {
    const json = (b: unknown) => new Response(JSON.stringify(b), { status: 401 });
    expect(await errorMessage(json({ code: 401, status: "UNAUTHENTICATED", message: "missing bearer token" }))).toBe("missing bearer token");
    expect(await errorMessage(json({ error: { code: 16, message: "invalid bearer token" } }))).toBe("invalid bearer token");
    expect(await errorMessage(new Response("not json", { status: 500 }))).toBe("");
  });
});

// LiveStore against a fake musterd that wants the read token "good".
describe("LiveStore with a read token", () => {
  let calls: { url: string; auth: string | null }[];
  let storage: MemoryStorage;
  let tokens: TokenStore;
  let store: LiveStore | null;

  const snapshotLine = JSON.stringify({
    result: {
      snapshot: { workers: [], aggregate: null, recent_errors: [], recent_logs: [], extraction_history: [], aggregate_mode: false, worker: null },
    },
  });

  beforeEach(() => {
    calls = [];
    storage = new MemoryStorage();
    tokens = localTokenStore(storage);
    store = null;
    vi.stubGlobal("requestAnimationFrame", (cb: () => void) => setTimeout(cb, 0));
    vi.stubGlobal("fetch", async (url: string, init?: RequestInit) => {
      const auth = new Headers(init?.headers).get("Authorization");
      calls.push({ url, auth });
      if (auth === null) return new Response(JSON.stringify({ code: 401, status: "UNAUTHENTICATED", message: "missing bearer token" }), { status: 401 });
      if (auth !== "Bearer good") return new Response(JSON.stringify({ error: { code: 16, message: "invalid bearer token" } }), { status: 401 });
      // A watch that sends its snapshot and stays open.
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode(snapshotLine + "\n"));
        },
      });
      return new Response(body, { status: 200 });
    });
  });

  afterEach(() => {
    store?.stop();
    vi.unstubAllGlobals();
  });

  const newStore = () => (store = new LiveStore("http://muster", tokens));
  const conn = () => store!.getView().conn;

  it("asks for a token on 401 and stops retrying", async () => {
    const s = newStore();
    s.start("");
    await vi.waitFor(() => expect(conn().kind).toBe("auth"));
    expect(conn()).toMatchObject({ kind: "auth", refused: false, reason: "missing bearer token" });
    expect(s.getView().signedIn).toBe(false);
    await new Promise((r) => setTimeout(r, 700)); // longer than the first backoff
    expect(calls).toHaveLength(1);
    expect(calls[0]).toEqual({ url: "http://muster/api/monitoring/watch", auth: null });
  });

  it("refuses a wrong token, keeps a right one and sends it on every fetch", async () => {
    const s = newStore();
    s.start("");
    await vi.waitFor(() => expect(conn().kind).toBe("auth"));
    s.setToken("wrong");
    await vi.waitFor(() => expect(conn()).toMatchObject({ kind: "auth", refused: true, reason: "invalid bearer token" }));
    expect(storage.items.has(TOKEN_KEY)).toBe(false);
    expect(s.getView().signedIn).toBe(false);
    s.setToken(" Bearer good ");
    await vi.waitFor(() => expect(conn().kind).toBe("live"));
    expect(calls.at(-1)?.auth).toBe("Bearer good");
    expect(storage.items.get(TOKEN_KEY)).toBe("good");
    expect(s.getView().signedIn).toBe(true);
    const r = await s.api("/api/monitoring/workers");
    expect(r.ok).toBe(true);
    expect(calls.at(-1)).toEqual({ url: "http://muster/api/monitoring/workers", auth: "Bearer good" });
  });

  it("starts with a stored token without asking", async () => {
    storage.setItem(TOKEN_KEY, "good");
    const s = newStore();
    expect(s.getView().signedIn).toBe(true);
    s.start("w1");
    await vi.waitFor(() => expect(conn().kind).toBe("live"));
    expect(calls).toEqual([{ url: "http://muster/api/monitoring/watch?worker_id=w1", auth: "Bearer good" }]);
  });

  it("asks again when a stored token stops working, and forgets it", async () => {
    storage.setItem(TOKEN_KEY, "rotated-away");
    const s = newStore();
    s.start("");
    await vi.waitFor(() => expect(conn()).toMatchObject({ kind: "auth", refused: true }));
    expect(storage.items.has(TOKEN_KEY)).toBe(false);
  });

  it("signs out: forgets the token and asks again", async () => {
    storage.setItem(TOKEN_KEY, "good");
    const s = newStore();
    s.start("");
    await vi.waitFor(() => expect(s.getView().state.synced).toBe(true));
    s.signOut();
    expect(storage.items.has(TOKEN_KEY)).toBe(false);
    expect(s.getView().signedIn).toBe(false);
    expect(s.getView().state.synced).toBe(false);
    await vi.waitFor(() => expect(conn()).toMatchObject({ kind: "auth", refused: false }));
    expect(calls.at(-1)?.auth).toBeNull();
  });

  it("does not reconnect on a route change while it waits for a token", async () => {
    const s = newStore();
    s.start("");
    await vi.waitFor(() => expect(conn().kind).toBe("auth"));
    s.focus("w2");
    expect(conn().kind).toBe("auth");
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toHaveLength(1);
    expect(s.getView().state.focus).toBe("w2");
    s.setToken("good");
    await vi.waitFor(() => expect(conn().kind).toBe("live"));
    expect(calls.at(-1)).toEqual({ url: "http://muster/api/monitoring/watch?worker_id=w2", auth: "Bearer good" });
  });
});
