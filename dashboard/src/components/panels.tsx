import { memo, useCallback, useDeferredValue, useMemo, useState, type ReactNode } from "react";
import {
  formatAgo,
  formatClock,
  formatDecimal,
  formatDuration,
  formatInt,
  formatPercent,
  formatRatio,
  normaliseLevel,
  percentOf,
} from "../format";
import type { BreakerAggregate, CircuitBreaker, CompletedExtraction, ErrorEvent, LogEntry, WorkerSummary } from "../types";
import { BreakerBadge, HealthBadge, LevelBadge, StatusBadge } from "./badges";
import { VirtualList } from "./VirtualList";

export function Card({ title, extra, children, className, testId }: { title: string; extra?: ReactNode; children: ReactNode; className?: string; testId?: string }) {
  const id = `card-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section className={`card ${className ?? ""}`} aria-labelledby={id} data-testid={testId}>
      <header className="card-head">
        <h2 id={id}>{title}</h2>
        {extra}
      </header>
      {children}
    </section>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export interface Tile {
  label: string;
  value: ReactNode;
  sub?: ReactNode;
  testId?: string;
}

export function Tiles({ tiles }: { tiles: Tile[] }) {
  return (
    <div className="tiles">
      {tiles.map((t) => (
        <div className="tile" key={t.label}>
          <div className="tile-label">{t.label}</div>
          <div className="tile-value" data-testid={t.testId}>
            {t.value}
          </div>
          {t.sub !== undefined && <div className="tile-sub">{t.sub}</div>}
        </div>
      ))}
    </div>
  );
}

export function ProgressBar({ done, total, label }: { done: number; total: number; label: string }) {
  const pct = percentOf(done, total);
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct * 10) / 10}>
      <div className="progress-fill" style={{ transform: `scaleX(${pct / 100})` }} />
    </div>
  );
}

/** Dioceses shows the comma-joined current dioceses as chips, the first few and a count. */
export function Dioceses({ value, max = 14 }: { value: string | null; max?: number }) {
  if (!value) return <Empty>No diocese in progress.</Empty>;
  const all = value.split(", ").filter(Boolean);
  return (
    <ul className="chips" data-testid="dioceses" aria-label="Current dioceses">
      {all.slice(0, max).map((d) => (
        <li key={d} className="chip">
          {d}
        </li>
      ))}
      {all.length > max && (
        <li className="chip chip-more" title={all.slice(max).join(", ")}>
          +{formatInt(all.length - max)} more
        </li>
      )}
    </ul>
  );
}

const breakerRank = { OPEN: 0, HALF_OPEN: 1, CLOSED: 2 } as const;

type AnyBreaker = CircuitBreaker & Partial<Pick<BreakerAggregate, "workers_open" | "workers_half_open" | "workers_closed">>;

/** sortBreakers puts the worst first: OPEN, HALF_OPEN, CLOSED, then lowest success rate, then name. */
export function sortBreakers<T extends CircuitBreaker>(breakers: Record<string, T>): [string, T][] {
  return Object.entries(breakers).sort(
    ([an, a], [bn, b]) =>
      breakerRank[a.state ?? "CLOSED"] - breakerRank[b.state ?? "CLOSED"] ||
      (a.total_requests > 0 ? a.success_rate : 101) - (b.total_requests > 0 ? b.success_rate : 101) ||
      an.localeCompare(bn),
  );
}

export const BreakersTable = memo(function BreakersTable({ breakers, fleet }: { breakers: Record<string, AnyBreaker>; fleet: boolean }) {
  const rows = useMemo(() => sortBreakers(breakers), [breakers]);
  if (rows.length === 0) return <Empty>No circuit breakers reported yet. Workers report them with POST …/circuit_breakers.</Empty>;
  return (
    <div className="table-wrap">
      <table className="table" data-testid="breakers">
        <thead>
          <tr>
            <th scope="col">Breaker</th>
            <th scope="col">State</th>
            <th scope="col" className="num">Requests</th>
            <th scope="col" className="num">Success</th>
            <th scope="col" className="num">Failures</th>
            <th scope="col" className="num">Blocked</th>
            {fleet && <th scope="col">Workers open / half-open / closed</th>}
          </tr>
        </thead>
        <tbody>
          {rows.map(([name, b]) => (
            <tr key={name} data-breaker={name}>
              <th scope="row" className="mono">{name}</th>
              <td>
                <BreakerBadge state={b.state} />
              </td>
              <td className="num">{formatInt(b.total_requests)}</td>
              <td className="num">{formatPercent(b.success_rate)}</td>
              <td className="num">{formatInt(b.total_failures)}</td>
              <td className="num">{formatInt(b.total_blocked)}</td>
              {fleet && (
                <td className="counts">
                  <span className={b.workers_open ? "c-open" : "c-zero"}>{formatInt(b.workers_open ?? 0)} open</span>
                  <span className={b.workers_half_open ? "c-half" : "c-zero"}>{formatInt(b.workers_half_open ?? 0)} half-open</span>
                  <span className="c-zero">{formatInt(b.workers_closed ?? 0)} closed</span>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
});

// ---- Workers table ----

export type WorkerSortKey = "worker_id" | "worker_type" | "status" | "current_diocese" | "progress" | "success_rate" | "last_updated" | "health";

const statusRank: Record<string, number> = { error: 0, running: 1, paused: 2, idle: 3, completed: 4, stale: 5 };

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function compareWorkers(key: WorkerSortKey): (a: WorkerSummary, b: WorkerSummary) => number {
  switch (key) {
    case "progress":
      return (a, b) => percentOf(a.parishes_processed, a.total_parishes) - percentOf(b.parishes_processed, b.total_parishes);
    case "success_rate":
      return (a, b) => a.success_rate - b.success_rate;
    case "status":
      return (a, b) => (statusRank[a.status ?? "idle"] ?? 9) - (statusRank[b.status ?? "idle"] ?? 9);
    case "health":
      return (a, b) => Number(a.health === "stale") - Number(b.health === "stale");
    case "last_updated":
      // ISO strings in one zone sort as times; most recent first when ascending.
      return (a, b) => cmpStr(b.last_updated ?? "", a.last_updated ?? "");
    default:
      // Plain code-unit order: localeCompare is ~50× slower, and with
      // 5,000 workers sorted on every batch that is the whole frame budget.
      return (a, b) => cmpStr(a[key] ?? "", b[key] ?? "");
  }
}

/** sortWorkers sorts by key, then by id so that the order is stable. */
export function sortWorkers(list: WorkerSummary[], key: WorkerSortKey, desc: boolean): WorkerSummary[] {
  const cmp = compareWorkers(key);
  const dir = desc ? -1 : 1;
  return list.sort((a, b) => dir * cmp(a, b) || cmpStr(a.worker_id, b.worker_id));
}

const workerColumns: { key: WorkerSortKey; label: string; className?: string }[] = [
  { key: "worker_id", label: "Worker" },
  { key: "worker_type", label: "Type" },
  { key: "status", label: "Status" },
  { key: "current_diocese", label: "Diocese" },
  { key: "progress", label: "Progress" },
  { key: "success_rate", label: "Success", className: "num" },
  { key: "last_updated", label: "Last seen" },
  { key: "health", label: "Liveness" },
];

const ROW = 40;

export const WorkersTable = memo(function WorkersTable({
  workers,
  now,
  onSelect,
}: {
  workers: ReadonlyMap<string, WorkerSummary>;
  now: number;
  onSelect: (id: string) => void;
}) {
  const [sort, setSort] = useState<{ key: WorkerSortKey; desc: boolean }>({ key: "worker_id", desc: false });
  const [filter, setFilter] = useState("");
  const deferredFilter = useDeferredValue(filter);
  const rows = useMemo(() => {
    const q = deferredFilter.trim().toLowerCase();
    let list = Array.from(workers.values());
    if (q) {
      list = list.filter(
        (w) =>
          w.worker_id.toLowerCase().includes(q) ||
          (w.current_diocese ?? "").toLowerCase().includes(q) ||
          w.worker_type.toLowerCase().includes(q) ||
          (w.status ?? "").includes(q),
      );
    }
    return sortWorkers(list, sort.key, sort.desc);
  }, [workers, deferredFilter, sort]);

  const toggle = useCallback((key: WorkerSortKey) => setSort((s) => (s.key === key ? { key, desc: !s.desc } : { key, desc: false })), []);

  return (
    <Card
      title="Workers"
      testId="workers-card"
      extra={
        <div className="card-tools">
          <span className="muted" aria-live="polite" data-testid="workers-count">
            {rows.length === workers.size ? `${formatInt(workers.size)} workers` : `${formatInt(rows.length)} of ${formatInt(workers.size)}`}
          </span>
          <input type="search" className="input" placeholder="Filter id, type, status, diocese…" aria-label="Filter workers" value={filter} onChange={(e) => setFilter(e.target.value)} />
        </div>
      }
    >
      {workers.size === 0 ? (
        <Empty>
          No workers yet — point a worker at <code>{location.origin}</code> (REST) or Muster's gRPC port, or run <code>bin/muster simulate</code>.
        </Empty>
      ) : (
        <div className="grid-table workers-grid" role="table" aria-label="Workers" aria-rowcount={rows.length + 1}>
          <div className="grid-row grid-head" role="row">
            {workerColumns.map((c) => (
              <div
                key={c.key}
                role="columnheader"
                className={c.className}
                aria-sort={sort.key === c.key ? (sort.desc ? "descending" : "ascending") : "none"}
              >
                <button type="button" className="sort" onClick={() => toggle(c.key)}>
                  {c.label}
                  <span aria-hidden="true" className="sort-mark">
                    {sort.key === c.key ? (sort.desc ? "▼" : "▲") : ""}
                  </span>
                </button>
              </div>
            ))}
          </div>
          {rows.length === 0 ? (
            <Empty>No worker matches “{filter}”.</Empty>
          ) : (
            <VirtualList
              count={rows.length}
              rowHeight={ROW}
              maxHeight={ROW * 12}
              role="rowgroup"
              testId="workers-rows"
              renderRow={(i, style) => {
                const w = rows[i];
                return (
                  <div key={w.worker_id} className={`grid-row ${w.health === "stale" ? "is-stale" : ""}`} role="row" style={style} data-worker={w.worker_id}>
                    <div role="cell" className="mono ellipsis">
                      <a href={`#/worker/${encodeURIComponent(w.worker_id)}`} onClick={(e) => { e.preventDefault(); onSelect(w.worker_id); }}>
                        {w.worker_id}
                      </a>
                    </div>
                    <div role="cell" className="ellipsis muted">{w.worker_type || "—"}</div>
                    <div role="cell"><StatusBadge status={w.status} /></div>
                    <div role="cell" className="ellipsis" title={w.current_diocese ?? ""}>{w.current_diocese ?? "—"}</div>
                    <div role="cell" className="progress-cell">
                      <ProgressBar done={w.parishes_processed} total={w.total_parishes} label={`${w.worker_id} progress`} />
                      <span className="num small">{formatRatio(w.parishes_processed, w.total_parishes)}</span>
                    </div>
                    <div role="cell" className="num">{formatPercent(w.success_rate)}</div>
                    <div role="cell" className="muted" data-testid="last-seen">{formatAgo(w.last_updated, now)}</div>
                    <div role="cell"><HealthBadge health={w.health} /></div>
                  </div>
                );
              }}
            />
          )}
        </div>
      )}
    </Card>
  );
});

// ---- Events ----

export const ErrorsPanel = memo(function ErrorsPanel({ errors, showWorker, onSelect, wide }: { errors: readonly ErrorEvent[]; showWorker: boolean; onSelect: (id: string) => void; wide?: boolean }) {
  return (
    <Card title="Recent errors" testId="errors-card" className={wide ? "w-full" : "w-half"} extra={<span className="muted">{formatInt(errors.length)}</span>}>
      {errors.length === 0 ? (
        <Empty>No errors reported. Workers report them with POST …/error.</Empty>
      ) : (
        <VirtualList
          count={errors.length}
          rowHeight={52}
          maxHeight={52 * 6}
          role="list"
          label="Recent errors"
          renderRow={(i, style) => {
            const e = errors[i];
            return (
              <div key={i} role="listitem" className="event" style={style}>
                <div className="event-top">
                  <span className={`sev sev-${(e.severity || "error").toLowerCase()}`}>{e.severity || "error"}</span>
                  <b className="ellipsis">{e.type || "Error"}</b>
                  {showWorker && <WorkerLink id={e.worker_id} onSelect={onSelect} />}
                  <time className="muted">{formatClock(e.timestamp)}</time>
                </div>
                <div className="event-msg ellipsis" title={e.message}>
                  {e.message}
                  {e.diocese && <span className="muted"> · {e.diocese}</span>}
                </div>
              </div>
            );
          }}
        />
      )}
    </Card>
  );
});

function WorkerLink({ id, onSelect }: { id: string; onSelect: (id: string) => void }) {
  if (!id) return <span className="muted small">fleet</span>;
  return (
    <a className="mono small ellipsis" href={`#/worker/${encodeURIComponent(id)}`} onClick={(e) => { e.preventDefault(); onSelect(id); }}>
      {id}
    </a>
  );
}

const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

export const LogPanel = memo(function LogPanel({
  logs,
  fleet,
  workerTypes,
  onSelect,
}: {
  logs: readonly LogEntry[];
  fleet: boolean;
  workerTypes: string[];
  onSelect: (id: string) => void;
}) {
  const [paused, setPaused] = useState<readonly LogEntry[] | null>(null);
  const [worker, setWorker] = useState("");
  const [type, setType] = useState("");
  const [level, setLevel] = useState("");
  const shown = paused ?? logs;
  const filtered = useMemo(() => {
    const w = worker.trim().toLowerCase();
    if (!w && !type && !level) return shown;
    return shown.filter(
      (l) =>
        (!w || l.worker_id.toLowerCase().includes(w)) &&
        (!type || l.worker_type === type) &&
        (!level || normaliseLevel(l.level) === level),
    );
  }, [shown, worker, type, level]);
  const newWhilePaused = paused ? countNewer(logs, paused) : 0;

  return (
    <Card
      title="Live log"
      className="w-full"
      testId="log-card"
      extra={
        <div className="card-tools">
          {fleet && (
            <input type="search" className="input input-sm" placeholder="Worker…" aria-label="Filter log by worker" value={worker} onChange={(e) => setWorker(e.target.value)} />
          )}
          {fleet && (
            <select className="input input-sm" aria-label="Filter log by worker type" value={type} onChange={(e) => setType(e.target.value)}>
              <option value="">All types</option>
              {workerTypes.map((t) => (
                <option key={t} value={t}>{t}</option>
              ))}
            </select>
          )}
          <select className="input input-sm" aria-label="Filter log by level" value={level} onChange={(e) => setLevel(e.target.value)}>
            <option value="">All levels</option>
            {LEVELS.map((l) => (
              <option key={l} value={l}>{l}</option>
            ))}
          </select>
          <button type="button" className={`btn ${paused ? "btn-warn" : ""}`} aria-pressed={paused !== null} onClick={() => setPaused(paused ? null : logs)}>
            {paused ? `Resume${newWhilePaused ? ` (${formatInt(newWhilePaused)} new)` : ""}` : "Pause"}
          </button>
        </div>
      }
    >
      {filtered.length === 0 ? (
        <Empty>{shown.length === 0 ? "No log lines yet. Workers send them with POST …/log." : "No log lines match the filters."}</Empty>
      ) : (
        <VirtualList
          count={filtered.length}
          rowHeight={30}
          maxHeight={30 * 12}
          role="log"
          label="Live log"
          testId="log-rows"
          className="log"
          renderRow={(i, style) => {
            const l = filtered[i];
            const lvl = normaliseLevel(l.level);
            return (
              <div key={i} className="log-row" style={style}>
                <time className="muted mono">{formatClock(l.timestamp)}</time>
                <LevelBadge level={lvl} />
                {fleet && <WorkerLink id={l.worker_id} onSelect={onSelect} />}
                {fleet && <span className="muted small ellipsis">{l.worker_type}</span>}
                <span className="ellipsis log-msg" title={l.message}>
                  {l.module && <span className="muted">[{l.module}] </span>}
                  {l.message}
                </span>
              </div>
            );
          }}
        />
      )}
    </Card>
  );
});

/** countNewer counts entries of list (newest first) that arrived after the newest of old. */
function countNewer<T>(list: readonly T[], old: readonly T[]): number {
  if (old.length === 0) return list.length;
  const i = list.indexOf(old[0]);
  return i < 0 ? list.length : i;
}

export const HistoryPanel = memo(function HistoryPanel({ history, showWorker, onSelect }: { history: readonly CompletedExtraction[]; showWorker: boolean; onSelect: (id: string) => void }) {
  return (
    <Card title="Completed extractions" testId="history-card" className="w-half" extra={<span className="muted">{formatInt(history.length)}</span>}>
      {history.length === 0 ? (
        <Empty>No completed extractions yet.</Empty>
      ) : (
        <VirtualList
          count={history.length}
          rowHeight={52}
          maxHeight={52 * 6}
          role="list"
          label="Completed extractions"
          renderRow={(i, style) => {
            const c = history[i];
            const ok = c.status === "" || /^(success|completed|ok)$/i.test(c.status);
            return (
              <div key={i} role="listitem" className="event" style={style}>
                <div className="event-top">
                  <span className={`sev ${ok ? "sev-ok" : "sev-warning"}`}>{c.status || "done"}</span>
                  <b className="ellipsis" title={c.parish_name ?? c.diocese_name}>
                    {c.parish_name ? `${c.parish_name} · ` : ""}
                    {c.diocese_name || "—"}
                  </b>
                  {showWorker && <WorkerLink id={c.worker_id} onSelect={onSelect} />}
                  <time className="muted">{formatClock(c.timestamp)}</time>
                </div>
                <div className="event-msg muted">
                  {formatInt(c.parishes_extracted)} parishes · {formatPercent(c.success_rate)} success · {formatDuration(c.duration)}
                  {c.schedules_found !== null && ` · ${formatInt(c.schedules_found)} schedules`}
                </div>
              </div>
            );
          }}
        />
      )}
    </Card>
  );
});

export function throughputLabel(v: number | undefined): string {
  return v === undefined ? "—" : formatDecimal(v);
}
