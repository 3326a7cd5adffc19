import { useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { formatInt } from "../format";
import type { WorkerSummary } from "../types";
import { HealthBadge, StatusBadge } from "./badges";
import { VirtualList } from "./VirtualList";

interface Props {
  workers: ReadonlyMap<string, WorkerSummary>;
  selected: string | null;
  onSelect: (id: string | null) => void;
}

/** filterWorkers keeps workers whose id, type or status contains q, sorted by id. */
export function filterWorkers(workers: Iterable<WorkerSummary>, q: string): WorkerSummary[] {
  const needle = q.trim().toLowerCase();
  const out: WorkerSummary[] = [];
  for (const w of workers) {
    if (!needle || w.worker_id.toLowerCase().includes(needle) || w.worker_type.toLowerCase().includes(needle) || (w.status ?? "").includes(needle)) out.push(w);
  }
  return out.sort((a, b) => (a.worker_id < b.worker_id ? -1 : a.worker_id > b.worker_id ? 1 : 0));
}

const ROW = 38;

/**
 * WorkerSelector is the header's view picker: "Aggregate view (N workers)"
 * and one entry per worker with its status. Type to filter; arrows, Home,
 * End, PageUp/PageDown move; Enter picks; Escape closes. "/" opens it from
 * anywhere on the page.
 */
export function WorkerSelector({ workers, selected, onSelect }: Props) {
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const button = useRef<HTMLButtonElement>(null);
  const root = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLInputElement>(null);

  const options = useMemo(() => (open ? filterWorkers(workers.values(), query) : []), [open, workers, query]);
  const count = options.length + 1; // the aggregate entry comes first

  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (e.key === "/" && !open && !(t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA"))) {
        e.preventDefault();
        openList();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (root.current && !root.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", onDown);
    return () => document.removeEventListener("mousedown", onDown);
  }, [open]);

  useEffect(() => {
    if (open) input.current?.focus();
  }, [open]);

  function openList() {
    setQuery("");
    const i = selected === null ? 0 : filterWorkers(workers.values(), "").findIndex((w) => w.worker_id === selected) + 1;
    setActive(Math.max(0, i));
    setOpen(true);
  }

  function close(refocus = true) {
    setOpen(false);
    if (refocus) button.current?.focus();
  }

  function pick(i: number) {
    if (i === 0) onSelect(null);
    else if (options[i - 1]) onSelect(options[i - 1].worker_id);
    close();
  }

  function onKeyDown(e: KeyboardEvent) {
    const page = 8;
    const moves: Record<string, number> = { ArrowDown: active + 1, ArrowUp: active - 1, PageDown: active + page, PageUp: active - page, Home: 0, End: count - 1 };
    if (e.key in moves) {
      e.preventDefault();
      setActive(Math.max(0, Math.min(count - 1, moves[e.key])));
    } else if (e.key === "Enter") {
      e.preventDefault();
      pick(active);
    } else if (e.key === "Escape") {
      e.preventDefault();
      close();
    } else if (e.key === "Tab") {
      close(false);
    }
  }

  const current = selected === null ? null : workers.get(selected);
  return (
    <div className="selector" ref={root}>
      <button
        ref={button}
        type="button"
        className="selector-button"
        aria-haspopup="listbox"
        aria-expanded={open}
        data-testid="selector"
        onClick={() => (open ? close() : openList())}
        onKeyDown={(e) => {
          if (!open && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
            e.preventDefault();
            openList();
          }
        }}
        title="Choose a view (press / )"
      >
        {selected === null ? (
          <span>Aggregate view ({formatInt(workers.size)} workers)</span>
        ) : (
          <span className="selector-current">
            <span className="mono ellipsis">{selected}</span>
            {current ? <StatusBadge status={current.status} /> : <span className="muted small">unknown</span>}
            {current?.health === "stale" && <HealthBadge health="stale" />}
          </span>
        )}
        <span aria-hidden="true" className="caret">▾</span>
      </button>
      {open && (
        <div className="selector-pop">
          <input
            ref={input}
            className="input selector-input"
            role="combobox"
            aria-expanded="true"
            aria-controls="selector-list"
            aria-activedescendant={`selector-opt-${active}`}
            aria-autocomplete="list"
            aria-label="Filter workers"
            placeholder={`Filter ${formatInt(workers.size)} workers by id, type or status…`}
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setActive(e.target.value ? 1 : 0);
            }}
            onKeyDown={onKeyDown}
          />
          <VirtualList
            id="selector-list"
            role="listbox"
            label="Views"
            count={count}
            rowHeight={ROW}
            maxHeight={ROW * 10}
            scrollToIndex={active}
            className="selector-list"
            renderRow={(i, style) => {
              const w = i === 0 ? null : options[i - 1];
              const isSelected = i === 0 ? selected === null : w?.worker_id === selected;
              return (
                <div
                  key={w ? w.worker_id : "__aggregate"}
                  id={`selector-opt-${i}`}
                  role="option"
                  aria-selected={isSelected}
                  className={`option ${i === active ? "is-active" : ""} ${isSelected ? "is-selected" : ""}`}
                  style={style}
                  onMouseDown={(e) => e.preventDefault()}
                  onMouseMove={() => i !== active && setActive(i)}
                  onClick={() => pick(i)}
                >
                  {w === null ? (
                    <b>Aggregate view ({formatInt(workers.size)} workers)</b>
                  ) : (
                    <>
                      <span className="mono ellipsis">{w.worker_id}</span>
                      <span className="muted small ellipsis">{w.worker_type}</span>
                      <StatusBadge status={w.status} />
                      {w.health === "stale" && <HealthBadge health="stale" />}
                    </>
                  )}
                </div>
              );
            }}
          />
          {options.length === 0 && query && <p className="empty small">No worker matches “{query}”.</p>}
        </div>
      )}
    </div>
  );
}
