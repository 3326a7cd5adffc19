// The live store: reads GET /api/monitoring/watch with fetch and a stream
// reader, queues what arrives and applies it once per animation frame,
// reconnects with backoff and resyncs from the fresh snapshot each new
// stream starts with. React reads it through useSyncExternalStore.
//
// Every API fetch goes through api(), which sends the read token (auth.ts)
// when there is one. A 401 stops the stream and asks for a token (conn
// "auth"); a token the server refused is forgotten, one it accepted is kept.
import { errorMessage, localTokenStore, normalizeToken, withBearer, type TokenStore } from "./auth";
import { applyBatch, initialState, setFocus, tick, type DashboardState } from "./state";
import type { WatchLine, WatchResponse } from "./types";

export type Connection =
  | { kind: "connecting"; attempt: number }
  | { kind: "live"; since: number }
  | { kind: "reconnecting"; attempt: number; retryAt: number; reason: string }
  | { kind: "failed"; reason: string }
  /** The server wants a read token: none was sent, or (refused) the one sent was wrong. */
  | { kind: "auth"; refused: boolean; reason: string };

export interface View {
  state: DashboardState;
  conn: Connection;
  /** Wall clock, advanced once a second, for "12 s ago" labels. */
  now: number;
  /** A read token is in use (offer to forget it). */
  signedIn: boolean;
}

/** Backoff before reconnect attempt n (1-based): 0.5 s doubling to 10 s, ±20 % jitter. */
export function backoffMs(attempt: number, random = Math.random): number {
  const base = Math.min(10_000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Counters the browser tests read (window.__muster). */
export interface Stats {
  messages: number;
  batches: number;
  snapshots: number;
  applyMs: number;
  maxApplyMs: number;
}

export class LiveStore {
  private view: View;
  private listeners = new Set<() => void>();
  private queue: WatchResponse[] = [];
  private flushScheduled = false;
  private abort: AbortController | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private clock: ReturnType<typeof setInterval> | null = null;
  private attempt = 0;
  private generation = 0;
  private token: string | null;
  private readonly tokens: TokenStore;
  private readonly baseUrl: string;
  readonly stats: Stats = { messages: 0, batches: 0, snapshots: 0, applyMs: 0, maxApplyMs: 0 };

  constructor(baseUrl = "", tokens: TokenStore = localTokenStore()) {
    this.baseUrl = baseUrl;
    this.tokens = tokens;
    this.token = tokens.load();
    this.view = { state: initialState(), conn: { kind: "connecting", attempt: 1 }, now: Date.now(), signedIn: this.token !== null };
  }

  getView = (): View => this.view;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  /** start opens the stream for focus ("" for the fleet only) and starts the clock. */
  start(focus: string): void {
    this.clock ??= setInterval(() => {
      const now = Date.now();
      this.set({ ...this.view, now, state: tick(this.view.state, now) });
    }, 1000);
    this.view = { ...this.view, state: setFocus(this.view.state, focus) };
    this.reconnectNow();
  }

  /** focus switches the watched worker: a new stream with ?worker_id= and a new snapshot. */
  focus(id: string): void {
    if (id === this.view.state.focus && this.abort) return;
    this.queue = [];
    this.set({ ...this.view, state: setFocus(this.view.state, id) });
    if (this.view.conn.kind === "auth") return; // connects once there is a token
    this.reconnectNow();
  }

  /** setToken tries a read token (as typed; "Bearer " and spaces are dropped) and reconnects with it. */
  setToken(input: string): void {
    const token = normalizeToken(input);
    if (!token) return;
    this.token = token;
    this.set({ ...this.view, signedIn: true });
    this.reconnectNow();
  }

  /** signOut forgets the token, here and in storage, drops what it showed and reconnects without it. */
  signOut(): void {
    this.token = null;
    this.tokens.clear();
    this.queue = [];
    this.set({ ...this.view, signedIn: false, state: initialState(this.view.state.focus) });
    this.reconnectNow();
  }

  /**
   * api fetches an API path with the read token. A 401 for the token in use
   * switches to asking for one; an answer that succeeds with a token keeps it.
   */
  async api(path: string, init?: RequestInit): Promise<Response> {
    const token = this.token;
    const resp = await fetch(this.baseUrl + path, withBearer(init, token));
    if (resp.status === 401) this.unauthorized(token, await errorMessage(resp.clone()));
    else if (resp.ok && token !== null && token === this.token) this.tokens.save(token);
    return resp;
  }

  private unauthorized(sent: string | null, reason: string): void {
    if (sent !== this.token) return; // answers an older token; a newer one is being tried
    const refused = sent !== null;
    if (refused) {
      this.token = null;
      this.tokens.clear();
    }
    // Stop for good (no retries) until a token is given, and show nothing
    // the server now refuses to show.
    this.generation++;
    this.abort?.abort();
    this.abort = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.queue = [];
    this.set({
      ...this.view,
      signedIn: false,
      state: initialState(this.view.state.focus),
      conn: { kind: "auth", refused, reason: reason || "HTTP 401" },
    });
  }

  /** reconnectNow drops any stream or pending retry and connects at once. */
  reconnectNow(): void {
    this.attempt = 0;
    this.connect();
  }

  stop(): void {
    this.generation++;
    this.abort?.abort();
    this.abort = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.clock) clearInterval(this.clock);
    this.retryTimer = null;
    this.clock = null;
  }

  private set(view: View): void {
    this.view = view;
    for (const fn of this.listeners) fn();
  }

  private setConn(conn: Connection): void {
    this.set({ ...this.view, conn });
  }

  private connect(): void {
    const gen = ++this.generation;
    this.abort?.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const abort = new AbortController();
    this.abort = abort;
    this.attempt++;
    this.setConn({ kind: "connecting", attempt: this.attempt });
    const focus = this.view.state.focus;
    this.read(focus, abort.signal, gen).then(
      (reason) => this.retry(gen, reason),
      (err: unknown) => this.retry(gen, err instanceof Error ? err.message : String(err)),
    );
  }

  private retry(gen: number, reason: string | null): void {
    if (gen !== this.generation) return; // superseded by a newer stream
    this.abort = null;
    if (reason === null) return;
    const delay = backoffMs(this.attempt);
    this.setConn({ kind: "reconnecting", attempt: this.attempt, retryAt: Date.now() + delay, reason });
    this.retryTimer = setTimeout(() => {
      if (gen === this.generation) this.connect();
    }, delay);
  }

  /** read runs one stream to its end and says why it ended (null: stop for good). */
  private async read(focus: string, signal: AbortSignal, gen: number): Promise<string | null> {
    const path = `/api/monitoring/watch${focus ? `?worker_id=${encodeURIComponent(focus)}` : ""}`;
    const resp = await this.api(path, { signal, cache: "no-store", headers: { Accept: "application/json" } });
    if (resp.status === 401) return null; // api() asks for a token
    if (!resp.ok || !resp.body) {
      const msg = await errorMessage(resp);
      const reason = `HTTP ${resp.status}${msg ? `: ${msg}` : ""}`;
      if (resp.status === 400) {
        this.setConn({ kind: "failed", reason });
        return null;
      }
      return reason;
    }
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || gen !== this.generation) break;
        buf += value;
        let start = 0;
        for (let nl = buf.indexOf("\n", start); nl >= 0; nl = buf.indexOf("\n", start)) {
          const line = buf.slice(start, nl).trim();
          start = nl + 1;
          if (line) this.line(JSON.parse(line) as WatchLine);
        }
        buf = buf.slice(start);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    return "stream ended";
  }

  private line(line: WatchLine): void {
    if (line.error) throw new Error(line.error.message ?? "stream error");
    const msg = line.result;
    if (!msg) return;
    if ("snapshot" in msg) {
      this.queue = []; // a snapshot supersedes anything not yet applied
      this.attempt = 0;
      this.setConn({ kind: "live", since: Date.now() });
    }
    this.queue.push(msg);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One batch per animation frame; a hidden tab gets no frames, so it is
    // flushed on a timer instead and its queue stays short.
    if (typeof document !== "undefined" && document.hidden) setTimeout(this.flush, 250);
    else requestAnimationFrame(this.flush);
  }

  private flush = (): void => {
    this.flushScheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const t0 = performance.now();
    const now = Date.now();
    const state = applyBatch(this.view.state, batch, now);
    const ms = performance.now() - t0;
    this.stats.messages += batch.length;
    this.stats.batches++;
    this.stats.snapshots = state.snapshots;
    this.stats.applyMs += ms;
    this.stats.maxApplyMs = Math.max(this.stats.maxApplyMs, ms);
    this.set({ ...this.view, state, now });
  };
}
