import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatDecimal } from "../format";
import type { Series } from "../state";

interface Props {
  series: Series;
  /** Wall clock in ms: the right edge of the chart. */
  now: number;
  /** Changes when the theme changes, so colours are read again. */
  theme: string;
  label: string;
}

const WINDOW_S = 15 * 60;
const MIN_SPAN_S = 60;

/** xRange shows the last 15 minutes, or less while the page has less history (at least a minute). */
export function xRange(series: Series, nowS: number): [number, number] {
  const first = series.t.length ? series.t[0] : nowS;
  const start = Math.max(nowS - WINDOW_S, Math.min(first, nowS - MIN_SPAN_S));
  return [start, nowS];
}

const pad = (n: number) => String(n).padStart(2, "0");

/** clock labels the time axis with local wall-clock time. */
function clock(seconds: number): string {
  const d = new Date(seconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** ThroughputChart draws parishes per minute over time with uPlot. */
export function ThroughputChart({ series, now, theme, label }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef({ series, now });
  latest.current = { series, now };

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const axis = { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { stroke: css("--grid"), width: 1 } };
    const accent = css("--accent");
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 200,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true, range: () => xRange(latest.current.series, latest.current.now / 1000) },
        y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] },
      },
      axes: [
        { ...axis, space: 80, values: (_u, vals) => vals.map((v) => clock(v)) },
        { ...axis, size: 56, values: (_u, vals) => vals.map((v) => formatDecimal(v).replace(/\.0$/, "")) },
      ],
      series: [
        {},
        { label, stroke: accent, width: 2, fill: `${accent}22`, points: { show: false }, spanGaps: true },
      ],
    };
    const data: uPlot.AlignedData = [latest.current.series.t as number[], latest.current.series.v as number[]];
    const u = new uPlot(opts, data, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 200 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [theme, label]);

  // Redraw at most twice a second: samples are per second, and a redraw per
  // streamed batch would cost more than everything else on the page.
  const lastDraw = useRef(0);
  useEffect(() => {
    const draw = () => {
      lastDraw.current = performance.now();
      const { series: s } = latest.current;
      plot.current?.setData([s.t as number[], s.v as number[]]);
    };
    const wait = 500 - (performance.now() - lastDraw.current);
    if (wait <= 0) {
      draw();
      return;
    }
    const timer = setTimeout(draw, wait);
    return () => clearTimeout(timer);
  }, [series, now]);

  const last = series.v.length ? series.v[series.v.length - 1] : null;
  return (
    <figure className="chart" aria-label={`${label} over the last 15 minutes`}>
      <div className="chart-now">
        <b data-testid="throughput-now">{last === null ? "—" : formatDecimal(last)}</b> parishes / min now
      </div>
      <div ref={box} className="chart-box" />
      {series.t.length < 2 && <p className="chart-empty">Collecting samples — the line grows while this page is open.</p>}
    </figure>
  );
}
