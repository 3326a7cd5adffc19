import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import { WorkerSelector } from "./components/WorkerSelector";
import type { Connection, LiveStore } from "./store";
import { parseRoute, routeHash } from "./route";
import { AggregateView, WorkerView } from "./views";

type Theme = "system" | "light" | "dark";

function useTheme(): [Theme, string, () => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem("muster-theme") as Theme | null) ?? "system");
  const [systemDark, setSystemDark] = useState(() => matchMedia("(prefers-color-scheme: dark)").matches);
  useEffect(() => {
    const mq = matchMedia("(prefers-color-scheme: dark)");
    const on = () => setSystemDark(mq.matches);
    mq.addEventListener("change", on);
    return () => mq.removeEventListener("change", on);
  }, []);
  const effective = theme === "system" ? (systemDark ? "dark" : "light") : theme;
  // Set during render, not in an effect: children's effects run first, and
  // the chart reads its colours from the CSS variables when it is created.
  document.documentElement.dataset.theme = effective;
  useEffect(() => {
    localStorage.setItem("muster-theme", theme);
  }, [theme]);
  const cycle = () => setTheme((t) => (t === "system" ? "light" : t === "light" ? "dark" : "system"));
  return [theme, effective, cycle];
}

function ConnectionBadge({ conn, now, onRetry }: { conn: Connection; now: number; onRetry: () => void }) {
  switch (conn.kind) {
    case "live":
      return (
        <span className="conn conn-live" role="status" data-testid="connection" data-state="live">
          <i aria-hidden="true" /> Live
        </span>
      );
    case "connecting":
      return (
        <span className="conn conn-wait" role="status" data-testid="connection" data-state="connecting">
          <i aria-hidden="true" /> Connecting…
        </span>
      );
    case "reconnecting": {
      const s = Math.max(0, Math.ceil((conn.retryAt - now) / 1000));
      return (
        <span className="conn conn-down" role="status" data-testid="connection" data-state="reconnecting" title={conn.reason}>
          <i aria-hidden="true" /> Disconnected — retrying{s > 0 ? ` in ${s} s` : "…"}
          <button type="button" className="btn btn-sm" onClick={onRetry}>
            Retry now
          </button>
        </span>
      );
    }
    case "failed":
      return (
        <span className="conn conn-down" role="status" data-testid="connection" data-state="failed" title={conn.reason}>
          <i aria-hidden="true" /> {conn.reason}
        </span>
      );
  }
}

export function App({ store }: { store: LiveStore }) {
  const view = useSyncExternalStore(store.subscribe, store.getView);
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  const [theme, effectiveTheme, cycleTheme] = useTheme();

  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);

  useEffect(() => {
    store.focus(route ?? "");
    document.title = route === null ? "Muster — fleet" : `Muster — ${route}`;
  }, [route, store]);

  const select = useCallback((id: string | null) => {
    const hash = routeHash(id);
    if (location.hash !== hash) location.hash = hash;
    window.scrollTo({ top: 0 });
  }, []);

  return (
    <>
      <header className="topbar">
        <a className="brand" href="#/" onClick={(e) => { e.preventDefault(); select(null); }}>
          <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <rect x="3" y="12" width="4" height="9" rx="1" />
            <rect x="10" y="7" width="4" height="14" rx="1" />
            <rect x="17" y="3" width="4" height="18" rx="1" />
          </svg>
          Muster
        </a>
        <WorkerSelector workers={view.state.workers} selected={route} onSelect={select} />
        <div className="topbar-right">
          <ConnectionBadge conn={view.conn} now={view.now} onRetry={() => store.reconnectNow()} />
          <button type="button" className="btn btn-ghost" onClick={cycleTheme} aria-label={`Theme: ${theme}. Change theme`} title={`Theme: ${theme}`}>
            {theme === "system" ? "◐ Auto" : theme === "light" ? "☀ Light" : "☾ Dark"}
          </button>
        </div>
      </header>
      {!view.state.synced && view.state.snapshots === 0 ? (
        <main className="view">
          <p className="empty">Connecting to Muster…</p>
        </main>
      ) : route === null ? (
        <AggregateView view={view} theme={effectiveTheme} onSelect={select} />
      ) : (
        <WorkerView view={view} theme={effectiveTheme} onSelect={select} />
      )}
    </>
  );
}
