// Wire types of GET /api/monitoring/watch, as gateway/encode.go writes them:
// snake_case keys, every field present, unset ones null, enums in their
// legacy spelling, timestamps in Python's isoformat.

export type ExtractionState = "running" | "paused" | "idle" | "completed" | "error" | "stale";
export type BreakerState = "CLOSED" | "HALF_OPEN" | "OPEN";
export type Health = "fresh" | "stale";
/** ISO-8601 timestamp, e.g. "2026-01-05T10:00:00.000001+00:00". */
export type Timestamp = string;

export interface ExtractionStatus {
  status: ExtractionState | null;
  current_diocese: string | null;
  parishes_processed: number;
  total_parishes: number;
  success_rate: number;
  progress_percentage: number;
  started_at: Timestamp | null;
  estimated_completion: Timestamp | null;
}

export interface CircuitBreaker {
  state: BreakerState | null;
  total_requests: number;
  total_successes: number;
  total_failures: number;
  total_blocked: number;
  success_rate: number;
}

export interface PerformanceMetrics {
  parishes_per_minute: number;
  queue_size: number;
  pool_utilization: number;
  total_requests: number;
  successful_requests: number;
}

export interface ErrorEvent {
  worker_id: string;
  type: string;
  message: string;
  diocese: string | null;
  severity: string;
  timestamp: Timestamp | null;
  attributes: Record<string, string>;
}

export interface LogEntry {
  worker_id: string;
  message: string;
  level: string;
  module: string;
  worker_type: string;
  timestamp: Timestamp | null;
}

export interface CompletedExtraction {
  worker_id: string;
  diocese_name: string;
  parishes_extracted: number;
  success_rate: number;
  duration: number;
  status: string;
  parish_name: string | null;
  parish_url: string | null;
  parish_address: string | null;
  schedules_found: number | null;
  mass_times: string | null;
  timestamp: Timestamp | null;
  attributes: Record<string, string>;
}

export interface WorkerStatus {
  worker_id: string;
  extraction_status: ExtractionStatus | null;
  circuit_breakers: Record<string, CircuitBreaker>;
  performance_metrics: PerformanceMetrics | null;
  last_updated: Timestamp | null;
  health: Health | null;
  worker_type: string;
  recent_errors: ErrorEvent[];
  recent_logs: LogEntry[];
  extraction_history: CompletedExtraction[];
}

export interface WorkerSummary {
  worker_id: string;
  status: ExtractionState | null;
  current_diocese: string | null;
  parishes_processed: number;
  total_parishes: number;
  success_rate: number;
  last_updated: Timestamp | null;
  health: Health | null;
  worker_type: string;
}

export interface ExtractionAggregate {
  status: ExtractionState | null;
  active_workers: number;
  total_workers: number;
  stale_workers: number;
  parishes_processed: number;
  total_parishes: number;
  success_rate: number;
  progress_percentage: number;
  current_diocese: string | null;
  started_at: Timestamp | null;
}

export interface BreakerAggregate {
  state: BreakerState | null;
  total_requests: number;
  total_successes: number;
  total_failures: number;
  total_blocked: number;
  success_rate: number;
  workers_closed: number;
  workers_half_open: number;
  workers_open: number;
}

export interface PerformanceAggregate {
  parishes_per_minute: number;
  queue_size: number;
  pool_utilization: number;
  total_requests: number;
  successful_requests: number;
  reporting_workers: number;
}

export interface Aggregate {
  extraction_status: ExtractionAggregate | null;
  circuit_breakers: Record<string, BreakerAggregate>;
  performance_metrics: PerformanceAggregate | null;
}

export interface WatchSnapshot {
  workers: WorkerSummary[];
  aggregate: Aggregate | null;
  recent_errors: ErrorEvent[];
  recent_logs: LogEntry[];
  extraction_history: CompletedExtraction[];
  aggregate_mode: boolean;
  worker: WorkerStatus | null;
}

/** One WatchResponse: exactly one of these keys is present. */
export type WatchResponse =
  | { snapshot: WatchSnapshot }
  | { worker_changed: WorkerSummary }
  | { worker_removed: string }
  | { aggregate: Aggregate }
  | { error: ErrorEvent }
  | { log: LogEntry }
  | { completion: CompletedExtraction }
  | { worker: WorkerStatus }
  | { aggregate_mode: boolean };

/** One line of the streamed JSON: {"result": ...} or {"error": ...}. */
export interface WatchLine {
  result?: WatchResponse;
  error?: { code?: number; message?: string };
}
