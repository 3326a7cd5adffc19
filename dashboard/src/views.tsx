import { useMemo } from "react";
import { ThroughputChart } from "./components/Chart";
import { HealthBadge, StatusBadge } from "./components/badges";
import {
  BreakersTable,
  Card,
  Dioceses,
  Empty,
  ErrorsPanel,
  HistoryPanel,
  LogPanel,
  ProgressBar,
  Tiles,
  WorkersTable,
} from "./components/panels";
import { formatAgo, formatDateTime, formatDecimal, formatInt, formatPercent, formatRatio, formatUntil, percentOf } from "./format";
import type { View } from "./store";

interface ViewProps {
  view: View;
  theme: string;
  onSelect: (id: string | null) => void;
}

function useWorkerTypes(view: View): string[] {
  const { workers, logs } = view.state;
  return useMemo(() => {
    const types = new Set<string>();
    for (const w of workers.values()) if (w.worker_type) types.add(w.worker_type);
    for (const l of logs) if (l.worker_type) types.add(l.worker_type);
    return [...types].sort();
  }, [workers, logs]);
}

export function AggregateView({ view, theme, onSelect }: ViewProps) {
  const { state, now } = view;
  const select = onSelect as (id: string) => void;
  const types = useWorkerTypes(view);
  const agg = state.aggregate;
  const ex = agg?.extraction_status;
  const perf = agg?.performance_metrics;
  return (
    <main className="view" data-testid="aggregate-view">
      <div className="view-head">
        <h1>
          Fleet <StatusBadge status={ex?.status ?? null} />
        </h1>
        <p className="muted">
          {ex?.started_at ? `Running since ${formatDateTime(ex.started_at)} · ` : ""}
          {formatInt(perf?.reporting_workers ?? 0)} workers reporting performance
        </p>
      </div>
      <Tiles
        tiles={[
          { label: "Active workers", value: formatInt(ex?.active_workers), sub: `of ${formatInt(ex?.total_workers)} total`, testId: "active-workers" },
          { label: "Total workers", value: formatInt(ex?.total_workers), testId: "total-workers" },
          {
            label: "Stale workers",
            value: <span className={ex?.stale_workers ? "warn-text" : ""}>{formatInt(ex?.stale_workers)}</span>,
            sub: ex?.stale_workers ? "silent, not counted as active" : "all reporting",
            testId: "stale-workers",
          },
          { label: "Success rate", value: formatPercent(ex?.success_rate), sub: "weighted by parishes processed", testId: "success-rate" },
          { label: "Throughput", value: formatDecimal(perf?.parishes_per_minute), sub: "parishes / min", testId: "throughput" },
          { label: "Queue", value: formatInt(perf?.queue_size), sub: `pool ${formatPercent(perf?.pool_utilization)} busy` },
        ]}
      />
      <div className="grid">
        <Card title="Distributed progress" className="w-half" testId="progress-card">
          <div className="progress-big">
            <div className="progress-nums">
              <b data-testid="parishes">{formatRatio(ex?.parishes_processed, ex?.total_parishes)}</b>
              <span className="muted"> parishes processed by active workers</span>
              <b className="progress-pct" data-testid="progress-pct">{formatPercent(ex?.progress_percentage)}</b>
            </div>
            <ProgressBar done={ex?.parishes_processed ?? 0} total={ex?.total_parishes ?? 0} label="Fleet progress" />
          </div>
          <h3 className="sub-head">Current dioceses</h3>
          <Dioceses value={ex?.current_diocese ?? null} />
        </Card>
        <Card title="Throughput, last 15 minutes" className="w-half" testId="chart-card">
          <ThroughputChart series={state.fleetThroughput} now={now} theme={theme} label="Fleet parishes per minute" />
        </Card>
        <Card title="Circuit breakers" className="w-full" testId="breakers-card" extra={<span className="muted">worst first · summed over fresh workers</span>}>
          <BreakersTable breakers={agg?.circuit_breakers ?? {}} fleet />
        </Card>
        <div className="w-full">
          <WorkersTable workers={state.workers} now={now} onSelect={select} />
        </div>
        <ErrorsPanel errors={state.errors} showWorker onSelect={select} />
        <HistoryPanel history={state.history} showWorker onSelect={select} />
        <LogPanel logs={state.logs} fleet workerTypes={types} onSelect={select} />
      </div>
    </main>
  );
}

export function WorkerView({ view, theme, onSelect }: ViewProps) {
  const { state, now } = view;
  const select = onSelect as (id: string) => void;
  const id = state.focus;
  const w = state.worker;
  const summary = state.workers.get(id);
  if (!w) {
    return (
      <main className="view" data-testid="worker-view">
        <div className="view-head">
          <h1 className="mono">{id}</h1>
        </div>
        <Card title="Worker">
          <Empty>
            {!state.synced
              ? "Loading this worker…"
              : `No worker “${id}” is known to Muster. It appears as soon as it reports (or was forgotten after a long silence).`}{" "}
            <a href="#/" onClick={(e) => { e.preventDefault(); onSelect(null); }}>Back to the aggregate view</a>
          </Empty>
        </Card>
      </main>
    );
  }
  const ex = w.extraction_status;
  const perf = w.performance_metrics;
  const done = ex?.parishes_processed ?? 0;
  const total = ex?.total_parishes ?? 0;
  return (
    <main className="view" data-testid="worker-view" data-worker={w.worker_id}>
      <div className="view-head">
        <h1>
          <span className="mono">{w.worker_id}</span> <StatusBadge status={ex?.status ?? null} /> <HealthBadge health={w.health} />
        </h1>
        <p className="muted" data-testid="worker-liveness">
          {w.worker_type ? `${w.worker_type} worker · ` : ""}last seen {formatAgo(w.last_updated ?? summary?.last_updated, now)}
          {w.health === "stale" ? " — silent for longer than the server's stale-after, not counted as active" : ""}
        </p>
      </div>
      <Tiles
        tiles={[
          { label: "Status", value: <StatusBadge status={ex?.status ?? null} />, sub: ex?.current_diocese ?? "no diocese", testId: "worker-status" },
          { label: "Success rate", value: formatPercent(ex?.success_rate), testId: "worker-success" },
          { label: "Throughput", value: formatDecimal(perf?.parishes_per_minute), sub: "parishes / min" },
          { label: "Queue", value: formatInt(perf?.queue_size), sub: `pool ${formatPercent(perf?.pool_utilization)} busy` },
          { label: "Requests", value: formatInt(perf?.total_requests), sub: `${formatInt(perf?.successful_requests)} successful` },
          { label: "Liveness", value: <HealthBadge health={w.health} />, sub: `last seen ${formatAgo(w.last_updated, now)}`, testId: "worker-health" },
        ]}
      />
      <div className="grid">
        <Card title="Progress" className="w-half" testId="worker-progress">
          <div className="progress-big">
            <div className="progress-nums">
              <b data-testid="worker-parishes">{formatRatio(done, total)}</b>
              <span className="muted"> parishes{ex?.current_diocese ? ` in ${ex.current_diocese}` : ""}</span>
              <b className="progress-pct">{formatPercent(ex?.progress_percentage || percentOf(done, total))}</b>
            </div>
            <ProgressBar done={done} total={total} label={`${w.worker_id} progress`} />
          </div>
          <dl className="details">
            <dt>Current diocese</dt>
            <dd>{ex?.current_diocese ?? "—"}</dd>
            <dt>Started</dt>
            <dd>{formatDateTime(ex?.started_at)}</dd>
            <dt>Estimated completion</dt>
            <dd>
              {formatDateTime(ex?.estimated_completion)}
              {ex?.estimated_completion ? ` (${formatUntil(ex.estimated_completion, now)})` : ""}
            </dd>
            <dt>Worker type</dt>
            <dd>{w.worker_type || "—"}</dd>
            <dt>Last seen</dt>
            <dd>
              {formatAgo(w.last_updated, now)} · {formatDateTime(w.last_updated)}
            </dd>
          </dl>
        </Card>
        <Card title="Throughput, last 15 minutes" className="w-half">
          <ThroughputChart series={state.workerThroughput} now={now} theme={theme} label={`${w.worker_id} parishes per minute`} />
        </Card>
        <Card title="Circuit breakers" className="w-half" testId="breakers-card" extra={<span className="muted">worst first</span>}>
          <BreakersTable breakers={w.circuit_breakers} fleet={false} />
        </Card>
        <HistoryPanel history={w.extraction_history} showWorker={false} onSelect={select} />
        <ErrorsPanel errors={w.recent_errors} showWorker={false} onSelect={select} wide />
        <LogPanel logs={w.recent_logs} fleet={false} workerTypes={[]} onSelect={select} />
      </div>
    </main>
  );
}
