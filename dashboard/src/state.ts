// The dashboard's state and the pure reducer that applies the Watch stream
// to it: a snapshot replaces everything, then changes patch it. The store
// (store.ts) feeds it one batch per animation frame.
import type {
  Aggregate,
  CompletedExtraction,
  ErrorEvent,
  LogEntry,
  WatchResponse,
  WorkerStatus,
  WorkerSummary,
} from "./types";

/** How many events of each kind the browser keeps, newest first. */
export const LIMITS = { errors: 200, logs: 1000, history: 200 } as const;

/** Throughput samples are kept for this long (the chart's window). */
export const SERIES_WINDOW_S = 15 * 60;

/** A time series: unix seconds and values, oldest first, one point per second. */
export interface Series {
  readonly t: readonly number[];
  readonly v: readonly number[];
}

export const emptySeries: Series = { t: [], v: [] };

export interface DashboardState {
  /** A snapshot has been applied since the focus last changed. */
  synced: boolean;
  /** How many snapshots have been applied (the first, then one per resync). */
  snapshots: number;
  workers: ReadonlyMap<string, WorkerSummary>;
  aggregate: Aggregate | null;
  /** Fleet-wide events, newest first. */
  errors: readonly ErrorEvent[];
  logs: readonly LogEntry[];
  history: readonly CompletedExtraction[];
  aggregateMode: boolean;
  /** The worker whose full status the stream carries; "" for none. */
  focus: string;
  /** The focused worker's full status; null until known or once forgotten. */
  worker: WorkerStatus | null;
  /** Parishes per minute reported by the fleet, and by the focused worker. */
  fleetThroughput: Series;
  workerThroughput: Series;
}

export function initialState(focus = ""): DashboardState {
  return {
    synced: false,
    snapshots: 0,
    workers: new Map(),
    aggregate: null,
    errors: [],
    logs: [],
    history: [],
    aggregateMode: false,
    focus,
    worker: null,
    fleetThroughput: emptySeries,
    workerThroughput: emptySeries,
  };
}

/**
 * focus starts watching another worker (or none): the next snapshot, from a
 * stream opened with ?worker_id=, brings its full status. Fleet data stays
 * on screen until then.
 */
export function setFocus(state: DashboardState, focus: string): DashboardState {
  if (focus === state.focus) return state;
  return { ...state, focus, worker: null, synced: false, workerThroughput: emptySeries };
}

/**
 * applyBatch applies stream messages in order and returns the new state; the
 * input is never modified. nowMs stamps throughput samples. A batch copies
 * each collection at most once, so a frame with many changes costs one copy.
 */
export function applyBatch(state: DashboardState, batch: readonly WatchResponse[], nowMs: number): DashboardState {
  if (batch.length === 0) return state;
  let s = state;
  let workers: Map<string, WorkerSummary> | null = null;
  let newErrors: ErrorEvent[] = [];
  let newLogs: LogEntry[] = [];
  let newHistory: CompletedExtraction[] = [];
  const flushEvents = () => {
    if (newErrors.length) s = { ...s, errors: prepend(s.errors, newErrors, LIMITS.errors) };
    if (newLogs.length) s = { ...s, logs: prepend(s.logs, newLogs, LIMITS.logs) };
    if (newHistory.length) s = { ...s, history: prepend(s.history, newHistory, LIMITS.history) };
    newErrors = [];
    newLogs = [];
    newHistory = [];
  };
  for (const msg of batch) {
    if ("snapshot" in msg) {
      const snap = msg.snapshot;
      newErrors = [];
      newLogs = [];
      newHistory = [];
      workers = new Map(snap.workers.map((w) => [w.worker_id, w]));
      const worker = snap.worker && snap.worker.worker_id === s.focus ? snap.worker : null;
      s = {
        ...s,
        synced: true,
        snapshots: s.snapshots + 1,
        aggregate: snap.aggregate,
        errors: snap.recent_errors.slice(0, LIMITS.errors),
        logs: snap.recent_logs.slice(0, LIMITS.logs),
        history: snap.extraction_history.slice(0, LIMITS.history),
        aggregateMode: snap.aggregate_mode,
        worker,
      };
      s = recordThroughput(s, nowMs);
    } else if ("worker_changed" in msg) {
      workers ??= new Map(s.workers);
      workers.set(msg.worker_changed.worker_id, msg.worker_changed);
    } else if ("worker_removed" in msg) {
      workers ??= new Map(s.workers);
      workers.delete(msg.worker_removed);
      if (msg.worker_removed === s.focus) s = { ...s, worker: null };
    } else if ("aggregate" in msg) {
      s = recordThroughput({ ...s, aggregate: msg.aggregate }, nowMs);
    } else if ("error" in msg) {
      newErrors.push(msg.error);
    } else if ("log" in msg) {
      newLogs.push(msg.log);
    } else if ("completion" in msg) {
      newHistory.push(msg.completion);
    } else if ("worker" in msg) {
      if (msg.worker.worker_id === s.focus) s = recordThroughput({ ...s, worker: msg.worker }, nowMs);
    } else if ("aggregate_mode" in msg) {
      s = { ...s, aggregateMode: msg.aggregate_mode };
    }
  }
  flushEvents();
  if (workers) s = { ...s, workers };
  return s;
}

/** tick extends the throughput lines to nowMs when nothing changed. */
export function tick(state: DashboardState, nowMs: number): DashboardState {
  if (!state.synced) return state;
  return recordThroughput(state, nowMs);
}

function recordThroughput(s: DashboardState, nowMs: number): DashboardState {
  const fleet = s.aggregate?.performance_metrics?.parishes_per_minute;
  const own = s.worker?.performance_metrics?.parishes_per_minute;
  const fleetThroughput = fleet === undefined ? s.fleetThroughput : record(s.fleetThroughput, nowMs, fleet);
  const workerThroughput = own === undefined ? s.workerThroughput : record(s.workerThroughput, nowMs, own);
  if (fleetThroughput === s.fleetThroughput && workerThroughput === s.workerThroughput) return s;
  return { ...s, fleetThroughput, workerThroughput };
}

/**
 * record adds a sample at nowMs (whole seconds; a later sample in the same
 * second replaces the earlier one) and drops samples older than the window.
 */
export function record(series: Series, nowMs: number, value: number, windowS = SERIES_WINDOW_S): Series {
  const t = Math.floor(nowMs / 1000);
  const n = series.t.length;
  if (n > 0 && series.t[n - 1] === t && series.v[n - 1] === value) return series;
  let start = 0;
  while (start < n && series.t[start] <= t - windowS) start++;
  const ts = series.t.slice(start);
  const vs = series.v.slice(start);
  if (ts.length > 0 && ts[ts.length - 1] >= t) {
    ts[ts.length - 1] = t;
    vs[vs.length - 1] = value;
  } else {
    ts.push(t);
    vs.push(value);
  }
  return { t: ts, v: vs };
}

/** prepend puts events (oldest first, as they arrived) before list (newest first). */
function prepend<T>(list: readonly T[], arrived: T[], limit: number): T[] {
  const out = arrived.slice(-limit).reverse();
  for (let i = 0; out.length < limit && i < list.length; i++) out.push(list[i]);
  return out;
}
