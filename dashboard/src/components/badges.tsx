import { humanise } from "../format";
import type { BreakerState, ExtractionState, Health } from "../types";

/** Badges always carry text: colour is never the only signal. */

export function StatusBadge({ status }: { status: ExtractionState | null }) {
  const s = status ?? "idle";
  return (
    <span className={`badge st-${s}`} data-status={s}>
      <i aria-hidden="true" />
      {humanise(s)}
    </span>
  );
}

export function HealthBadge({ health }: { health: Health | null }) {
  if (health === "stale") {
    return (
      <span className="badge st-stale" data-health="stale" title="Silent for longer than the server's stale-after">
        <i aria-hidden="true" />
        Stale
      </span>
    );
  }
  return (
    <span className="badge st-fresh" data-health="fresh">
      <i aria-hidden="true" />
      Fresh
    </span>
  );
}

export function BreakerBadge({ state }: { state: BreakerState | null }) {
  const s = state ?? "CLOSED";
  return (
    <span className={`badge br-${s}`} data-state={s}>
      <i aria-hidden="true" />
      {humanise(s)}
    </span>
  );
}

export function LevelBadge({ level }: { level: string }) {
  return <span className={`lvl lvl-${level}`}>{level}</span>;
}
