import { useLayoutEffect, useRef, useState, type CSSProperties, type ReactNode } from "react";

/** visibleRange is the slice of rows to render for a scroll position, with overscan. */
export function visibleRange(count: number, rowHeight: number, scrollTop: number, viewport: number, overscan = 6) {
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return { first, last };
}

interface Props {
  count: number;
  rowHeight: number;
  /** Largest height of the scrolling area in px; smaller lists shrink to fit. */
  maxHeight: number;
  renderRow: (index: number, style: CSSProperties) => ReactNode;
  className?: string;
  role?: string;
  label?: string;
  /** Scrolls so that this row is visible. */
  scrollToIndex?: number;
  id?: string;
  testId?: string;
}

/**
 * VirtualList renders only the rows in view (plus a few), so a list of
 * 5,000 workers costs what 20 rows cost. Rows have a fixed height.
 */
export function VirtualList({ count, rowHeight, maxHeight, renderRow, className, role, label, scrollToIndex, id, testId }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const height = Math.min(maxHeight, count * rowHeight);

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || scrollToIndex === undefined || scrollToIndex < 0) return;
    const top = scrollToIndex * rowHeight;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + rowHeight - el.clientHeight;
  }, [scrollToIndex, rowHeight]);

  // Keep the scroll position valid when the list shrinks.
  const maxScroll = Math.max(0, count * rowHeight - height);
  const top = Math.min(scrollTop, maxScroll);
  const { first, last } = visibleRange(count, rowHeight, top, height);
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    rows.push(renderRow(i, { position: "absolute", top: i * rowHeight, height: rowHeight, left: 0, right: 0 }));
  }
  return (
    <div
      ref={ref}
      id={id}
      className={`vlist ${className ?? ""}`}
      style={{ height, overflowY: "auto", position: "relative" }}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
      role={role}
      aria-label={label}
      aria-rowcount={role === "rowgroup" ? count : undefined}
      data-testid={testId}
      data-count={count}
      tabIndex={role === "listbox" ? -1 : 0}
    >
      <div style={{ height: count * rowHeight, position: "relative" }}>{rows}</div>
    </div>
  );
}
