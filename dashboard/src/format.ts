// Formatters for numbers, rates, times and durations. Pure, locale fixed to
// English so that the page reads the same everywhere (and tests are exact).

const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const dec1Fmt = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const compactFmt = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

const dash = "—";

const finite = (n: number | null | undefined): n is number => typeof n === "number" && Number.isFinite(n);

/** formatInt: 12345 → "12,345". */
export function formatInt(n: number | null | undefined): string {
  return finite(n) ? intFmt.format(n) : dash;
}

/** formatCompact: 1234567 → "1.2M"; below 10,000 like formatInt. */
export function formatCompact(n: number | null | undefined): string {
  if (!finite(n)) return dash;
  return Math.abs(n) < 10_000 ? intFmt.format(n) : compactFmt.format(n);
}

/** formatDecimal: one decimal, 12.345 → "12.3". */
export function formatDecimal(n: number | null | undefined): string {
  return finite(n) ? dec1Fmt.format(n) : dash;
}

/** formatPercent: a 0–100 percentage with one decimal, 86.66 → "86.7 %". */
export function formatPercent(n: number | null | undefined): string {
  return finite(n) ? `${dec1Fmt.format(n)} %` : dash;
}

/** formatRatio: "1,234 / 5,000". */
export function formatRatio(done: number | null | undefined, total: number | null | undefined): string {
  return `${formatInt(done)} / ${formatInt(total)}`;
}

/** percentOf: done / total × 100, 0 when total is not positive; clamped to 0–100. */
export function percentOf(done: number, total: number): number {
  if (!(total > 0) || !finite(done)) return 0;
  return Math.min(100, Math.max(0, (done / total) * 100));
}

/**
 * parseTimestamp reads the server's isoformat timestamps
 * ("2026-01-05T10:00:00.000001+00:00"), keeping milliseconds. null when
 * absent or unreadable.
 */
export function parseTimestamp(ts: string | null | undefined): number | null {
  if (!ts) return null;
  // Microseconds are more than Date.parse promises to accept: keep three digits.
  const normalised = ts.replace(/(\.\d{3})\d+/, "$1");
  const ms = Date.parse(normalised);
  return Number.isNaN(ms) ? null : ms;
}

/** formatAgo: time since ts as "just now", "12 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function formatAgo(ts: string | null | undefined, nowMs: number): string {
  const ms = parseTimestamp(ts);
  if (ms === null) return "never";
  const s = Math.max(0, Math.floor((nowMs - ms) / 1000));
  if (s < 1) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** formatDuration: seconds as "850 ms", "42 s", "3 min 05 s", "2 h 07 min". */
export function formatDuration(seconds: number | null | undefined): string {
  if (!finite(seconds) || seconds < 0) return dash;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** formatClock: local wall-clock time "14:03:27", or "—". */
export function formatClock(ts: string | null | undefined): string {
  const ms = parseTimestamp(ts);
  if (ms === null) return dash;
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** formatDateTime: local "2026-01-05 10:00:00", or "—". */
export function formatDateTime(ts: string | null | undefined): string {
  const ms = parseTimestamp(ts);
  if (ms === null) return dash;
  const d = new Date(ms);
  const date = [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((n) => String(n).padStart(2, "0")).join("-");
  return `${date} ${formatClock(ts)}`;
}

/** formatUntil: time to ts as "in 4 min", "overdue" when past, "—" when unknown. */
export function formatUntil(ts: string | null | undefined, nowMs: number): string {
  const ms = parseTimestamp(ts);
  if (ms === null) return dash;
  const s = Math.floor((ms - nowMs) / 1000);
  if (s < 0) return "overdue";
  if (s < 60) return `in ${s} s`;
  if (s < 3600) return `in ${Math.floor(s / 60)} min`;
  return `in ${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** normaliseLevel: "warn" and "Warning" → "WARNING"; "" → "INFO". */
export function normaliseLevel(level: string | null | undefined): string {
  const l = (level ?? "").trim().toUpperCase();
  if (l === "") return "INFO";
  if (l === "WARN") return "WARNING";
  if (l === "FATAL") return "CRITICAL";
  return l;
}

/** humanise: "HALF_OPEN" → "Half open". */
export function humanise(s: string | null | undefined): string {
  if (!s) return dash;
  const t = s.replace(/_/g, " ").toLowerCase();
  return t.charAt(0).toUpperCase() + t.slice(1);
}
