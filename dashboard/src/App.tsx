import { useCallback, useEffect, useId, useRef, useState, useSyncExternalStore, type FormEvent } from "react";
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
    case "auth":
      return (
        <span className="conn conn-wait" role="status" data-testid="connection" data-state="auth" title={conn.reason}>
          <i aria-hidden="true" /> Access token needed
        </span>
      );
    case "failed":
      return (
        <span className="conn conn-down" role="status" data-testid="connection" data-state="failed" title={conn.reason}>
          <i aria-hidden="true" /> {conn.reason}
        </span>
      );
  }
}

/**
 * TokenForm asks for the read token when the server answered 401; refused
 * says the token just tried was wrong.
 */
export function TokenForm({ refused, reason, onSubmit }: { refused: boolean; reason: string; onSubmit: (token: string) => void }) {
  const [value, setValue] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const id = useId();
  useEffect(() => input.current?.focus(), [refused]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (value.trim()) onSubmit(value);
  };
  return (
    <main className="view">
      <form className="auth-form" aria-labelledby={`${id}-title`} aria-describedby={`${id}-help`} onSubmit={submit} data-testid="token-form">
        <h1 id={`${id}-title`}>Access token required</h1>
        <p id={`${id}-help`} className="muted">
          This Muster server needs an access token (its read token) to show the fleet. It is kept in this browser until you sign out.
        </p>
        {refused && (
          <p role="alert" className="auth-error" id={`${id}-error`} data-testid="token-error">
            The server refused that token{reason ? ` (${reason})` : ""}. Check it and try again.
          </p>
        )}
        <label htmlFor={`${id}-token`}>Access token</label>
        <div className="auth-row">
          <input
            ref={input}
            id={`${id}-token`}
            name="token"
            className="input"
            type="password"
            autoComplete="current-password"
            spellCheck={false}
            required
            aria-invalid={refused || undefined}
            aria-describedby={refused ? `${id}-error` : undefined}
            value={value}
            onChange={(e) => setValue(e.target.value)}
          />
          <button type="submit" className="btn btn-primary">
            Connect
          </button>
        </div>
      </form>
    </main>
  );
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
          {view.signedIn && (
            <button type="button" className="btn btn-ghost" onClick={() => store.signOut()} title="Forget the access token kept in this browser">
              Sign out
            </button>
          )}
          <button type="button" className="btn btn-ghost" onClick={cycleTheme} aria-label={`Theme: ${theme}. Change theme`} title={`Theme: ${theme}`}>
            {theme === "system" ? "◐ Auto" : theme === "light" ? "☀ Light" : "☾ Dark"}
          </button>
        </div>
      </header>
      {view.conn.kind === "auth" ? (
        <TokenForm refused={view.conn.refused} reason={view.conn.reason} onSubmit={(t) => store.setToken(t)} />
      ) : !view.state.synced && view.state.snapshots === 0 ? (
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
