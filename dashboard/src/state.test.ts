import { describe, expect, it } from "vitest";
import { applyBatch, initialState, LIMITS, record, setFocus, tick, type DashboardState } from "./state";
import type { Aggregate, LogEntry, WatchResponse, WatchSnapshot, WorkerStatus, WorkerSummary } from "./types";

const T0 = Date.parse("2026-01-05T10:00:00Z");

function summary(id: string, over: Partial<WorkerSummary> = {}): WorkerSummary {
  return {
    worker_id: id,
    status: "running",
    current_diocese: null,
    parishes_processed: 0,
    total_parishes: 0,
    success_rate: 0,
    last_updated: "2026-01-05T10:00:00.000001+00:00",
    health: "fresh",
    worker_type: "",
    ...over,
  };
}

function aggregate(ppm: number, over: Partial<NonNullable<Aggregate["extraction_status"]>> = {}): Aggregate {
  return {
    extraction_status: {
      status: "running",
      active_workers: 1,
      total_workers: 1,
      stale_workers: 0,
      parishes_processed: 0,
      total_parishes: 0,
      success_rate: 0,
      progress_percentage: 0,
      current_diocese: null,
      started_at: null,
      ...over,
    },
    circuit_breakers: {},
    performance_metrics: { parishes_per_minute: ppm, queue_size: 0, pool_utilization: 0, total_requests: 0, successful_requests: 0, reporting_workers: 1 },
  };
}

function log(message: string, worker_id = "w1"): LogEntry {
  return { worker_id, message, level: "INFO", module: "", worker_type: "", timestamp: "2026-01-05T10:00:00+00:00" };
}

function workerStatus(id: string, ppm = 0): WorkerStatus {
  return {
    worker_id: id,
    extraction_status: null,
    circuit_breakers: {},
    performance_metrics: { parishes_per_minute: ppm, queue_size: 0, pool_utilization: 0, total_requests: 0, successful_requests: 0 },
    last_updated: null,
    health: "fresh",
    worker_type: "",
    recent_errors: [],
    recent_logs: [],
    extraction_history: [],
  };
}

function snapshot(over: Partial<WatchSnapshot> = {}): WatchResponse {
  return {
    snapshot: {
      workers: [summary("w1"), summary("w2")],
      aggregate: aggregate(10),
      recent_errors: [],
      recent_logs: [log("old")],
      extraction_history: [],
      aggregate_mode: false,
      worker: null,
      ...over,
    },
  };
}

const synced = (focus = ""): DashboardState => applyBatch(initialState(focus), [snapshot()], T0);

describe("applyBatch", () => {
  it("starts from a snapshot", () => {
    const s = synced();
    expect(s.synced).toBe(true);
    expect(s.snapshots).toBe(1);
    expect([...s.workers.keys()]).toEqual(["w1", "w2"]);
    expect(s.aggregate?.extraction_status?.active_workers).toBe(1);
    expect(s.logs.map((l) => l.message)).toEqual(["old"]);
    expect(s.fleetThroughput).toEqual({ t: [T0 / 1000], v: [10] });
  });

  it("applies worker changes and removals", () => {
    const s0 = synced();
    const s = applyBatch(
      s0,
      [{ worker_changed: summary("w3", { status: "paused" }) }, { worker_changed: summary("w1", { parishes_processed: 5 }) }, { worker_removed: "w2" }],
      T0,
    );
    expect([...s.workers.keys()].sort()).toEqual(["w1", "w3"]);
    expect(s.workers.get("w1")?.parishes_processed).toBe(5);
    expect(s.workers.get("w3")?.status).toBe("paused");
    // The input is never modified.
    expect([...s0.workers.keys()]).toEqual(["w1", "w2"]);
    expect(s0.workers.get("w1")?.parishes_processed).toBe(0);
  });

  it("keeps events newest first and bounded", () => {
    const s = applyBatch(synced(), [{ log: log("a") }, { log: log("b") }, { error: { worker_id: "w1", type: "T", message: "boom", diocese: null, severity: "high", timestamp: null, attributes: {} } }], T0);
    expect(s.logs.map((l) => l.message)).toEqual(["b", "a", "old"]);
    expect(s.errors.map((e) => e.message)).toEqual(["boom"]);
    const many: WatchResponse[] = Array.from({ length: LIMITS.logs + 10 }, (_, i) => ({ log: log(`m${i}`) }));
    const full = applyBatch(s, many, T0);
    expect(full.logs).toHaveLength(LIMITS.logs);
    expect(full.logs[0].message).toBe(`m${LIMITS.logs + 9}`);
  });

  it("keeps completions newest first", () => {
    const c = (name: string) => ({ completion: { worker_id: "w1", diocese_name: name, parishes_extracted: 1, success_rate: 100, duration: 1, status: "completed", parish_name: null, parish_url: null, parish_address: null, schedules_found: null, mass_times: null, timestamp: null, attributes: {} } });
    const s = applyBatch(synced(), [c("A"), c("B")], T0);
    expect(s.history.map((h) => h.diocese_name)).toEqual(["B", "A"]);
  });

  it("replaces the aggregate and the mode", () => {
    const s = applyBatch(synced(), [{ aggregate: aggregate(20, { active_workers: 2 }) }, { aggregate_mode: true }], T0 + 2000);
    expect(s.aggregate?.extraction_status?.active_workers).toBe(2);
    expect(s.aggregateMode).toBe(true);
    expect(s.fleetThroughput.v).toEqual([10, 20]);
  });

  it("resyncs from a later snapshot, dropping what came before it", () => {
    const s1 = applyBatch(synced(), [{ worker_changed: summary("w9") }, { log: log("lost") }], T0);
    const s2 = applyBatch(s1, [{ log: log("before") }, snapshot({ workers: [summary("w5")], recent_logs: [] }), { log: log("after") }], T0);
    expect([...s2.workers.keys()]).toEqual(["w5"]);
    expect(s2.logs.map((l) => l.message)).toEqual(["after"]);
    expect(s2.snapshots).toBe(2);
  });

  it("tracks the focused worker only", () => {
    let s = applyBatch(initialState("w1"), [snapshot({ worker: workerStatus("w1", 3) })], T0);
    expect(s.worker?.worker_id).toBe("w1");
    expect(s.workerThroughput.v).toEqual([3]);
    s = applyBatch(s, [{ worker: workerStatus("other", 99) }], T0 + 1000);
    expect(s.worker?.performance_metrics?.parishes_per_minute).toBe(3);
    s = applyBatch(s, [{ worker: workerStatus("w1", 4) }], T0 + 1000);
    expect(s.workerThroughput.v).toEqual([3, 4]);
    s = applyBatch(s, [{ worker_removed: "w1" }], T0 + 2000);
    expect(s.worker).toBeNull();
  });

  it("ignores a snapshot's worker that is not the focus", () => {
    const s = applyBatch(initialState("w2"), [snapshot({ worker: workerStatus("w1") })], T0);
    expect(s.worker).toBeNull();
  });

  it("returns the same state for an empty batch", () => {
    const s = synced();
    expect(applyBatch(s, [], T0)).toBe(s);
  });
});

describe("setFocus", () => {
  it("waits for a new snapshot and keeps fleet data on screen", () => {
    const s = setFocus(synced(), "w1");
    expect(s.focus).toBe("w1");
    expect(s.synced).toBe(false);
    expect(s.workers.size).toBe(2);
    expect(setFocus(s, "w1")).toBe(s);
  });
});

describe("record and tick", () => {
  it("keeps one point per second and drops points outside the window", () => {
    let s = record({ t: [], v: [] }, 1000, 1);
    s = record(s, 1500, 2); // same second: replaced
    expect(s).toEqual({ t: [1], v: [2] });
    s = record(s, 2000, 3);
    s = record(s, 20_000, 4, 10); // window of 10 s: older points go
    expect(s).toEqual({ t: [20], v: [4] });
  });

  it("returns the same series when nothing changes", () => {
    const s = record({ t: [], v: [] }, 1000, 1);
    expect(record(s, 1200, 1)).toBe(s);
  });

  it("extends the line on tick once synced", () => {
    expect(tick(initialState(), T0)).toEqual(initialState());
    const s = tick(synced(), T0 + 5000);
    expect(s.fleetThroughput.t).toEqual([T0 / 1000, T0 / 1000 + 5]);
  });
});
