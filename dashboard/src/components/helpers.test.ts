import { describe, expect, it } from "vitest";
import { parseRoute, routeHash } from "../route";
import { backoffMs } from "../store";
import type { BreakerAggregate, WorkerSummary } from "../types";
import { sortBreakers, sortWorkers } from "./panels";
import { visibleRange } from "./VirtualList";
import { filterWorkers } from "./WorkerSelector";

const b = (state: BreakerAggregate["state"], success_rate: number, total_requests = 10): BreakerAggregate => ({
  state, success_rate, total_requests, total_successes: 0, total_failures: 0, total_blocked: 0, workers_closed: 0, workers_half_open: 0, workers_open: 0,
});

const w = (worker_id: string, over: Partial<WorkerSummary> = {}): WorkerSummary => ({
  worker_id, status: "running", current_diocese: null, parishes_processed: 0, total_parishes: 0, success_rate: 0, last_updated: null, health: "fresh", worker_type: "", ...over,
});

describe("sortBreakers", () => {
  it("puts the worst first", () => {
    const got = sortBreakers({ a: b("CLOSED", 99), b: b("OPEN", 50), c: b("HALF_OPEN", 80), d: b("CLOSED", 70), e: b("OPEN", 10), f: b("CLOSED", 0, 0) });
    expect(got.map(([n]) => n)).toEqual(["e", "b", "c", "d", "a", "f"]);
  });
});

describe("sortWorkers", () => {
  const list = () => [w("b", { parishes_processed: 5, total_parishes: 10 }), w("a", { parishes_processed: 1, total_parishes: 10, health: "stale" }), w("c")];
  it("sorts by id, progress and liveness, both ways", () => {
    expect(sortWorkers(list(), "worker_id", false).map((x) => x.worker_id)).toEqual(["a", "b", "c"]);
    expect(sortWorkers(list(), "progress", true).map((x) => x.worker_id)).toEqual(["b", "a", "c"]);
    expect(sortWorkers(list(), "health", true).map((x) => x.worker_id)).toEqual(["a", "b", "c"]);
  });
});

describe("filterWorkers", () => {
  it("matches id, type and status case-insensitively, sorted by id", () => {
    const ws = [w("pod-B"), w("pod-a", { worker_type: "discovery" }), w("x", { status: "paused" })];
    expect(filterWorkers(ws, "POD").map((x) => x.worker_id)).toEqual(["pod-B", "pod-a"]);
    expect(filterWorkers(ws, "disc").map((x) => x.worker_id)).toEqual(["pod-a"]);
    expect(filterWorkers(ws, "paused").map((x) => x.worker_id)).toEqual(["x"]);
    expect(filterWorkers(ws, "")).toHaveLength(3);
  });
});

describe("routes", () => {
  it("round-trips worker ids through the hash", () => {
    for (const id of ["w1", "pod.ns:8080_x-y", "legacy"]) expect(parseRoute(routeHash(id))).toBe(id);
    expect(routeHash(null)).toBe("#/");
    expect(parseRoute("#/")).toBeNull();
    expect(parseRoute("")).toBeNull();
    expect(parseRoute("#/worker/%E0%A4%A")).toBeNull();
  });
});

describe("virtual list", () => {
  it("renders only the rows in view plus overscan", () => {
    expect(visibleRange(5000, 40, 0, 400, 6)).toEqual({ first: 0, last: 16 });
    expect(visibleRange(5000, 40, 40_000, 400, 6)).toEqual({ first: 994, last: 1016 });
    expect(visibleRange(5000, 40, 199_600, 400, 6)).toEqual({ first: 4984, last: 5000 });
  });
});

describe("backoff", () => {
  it("doubles from 0.5 s to 10 s with jitter", () => {
    expect(backoffMs(1, () => 0.5)).toBe(500);
    expect(backoffMs(3, () => 0.5)).toBe(2000);
    expect(backoffMs(10, () => 0.5)).toBe(10_000);
    expect(backoffMs(1, () => 0)).toBe(400);
    expect(backoffMs(1, () => 1)).toBe(600);
  });
});
