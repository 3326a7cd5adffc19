import { describe, expect, it } from "vitest";
import {
  formatAgo,
  formatCompact,
  formatDecimal,
  formatDuration,
  formatInt,
  formatPercent,
  formatRatio,
  formatUntil,
  humanise,
  normaliseLevel,
  parseTimestamp,
  percentOf,
} from "./format";

const NOW = Date.parse("2026-01-05T10:00:00Z");

describe("numbers", () => {
  it.each([
    [0, "0"],
    [12345, "12,345"],
    [1234567.6, "1,234,568"],
    [null, "—"],
    [Number.NaN, "—"],
  ])("formatInt(%s) = %s", (n, want) => expect(formatInt(n)).toBe(want));

  it("formats decimals, percentages and ratios", () => {
    expect(formatDecimal(12.345)).toBe("12.3");
    expect(formatDecimal(1234.56)).toBe("1,234.6");
    expect(formatPercent(86.66)).toBe("86.7 %");
    expect(formatPercent(100)).toBe("100.0 %");
    expect(formatPercent(undefined)).toBe("—");
    expect(formatRatio(150, 500)).toBe("150 / 500");
    expect(formatCompact(9999)).toBe("9,999");
    expect(formatCompact(1_234_567)).toBe("1.2M");
  });

  it("computes a clamped percentage", () => {
    expect(percentOf(150, 500)).toBe(30);
    expect(percentOf(5, 0)).toBe(0);
    expect(percentOf(7, 5)).toBe(100);
  });
});

describe("times", () => {
  it("parses the server's isoformat timestamps", () => {
    expect(parseTimestamp("2026-01-05T10:00:00.000001+00:00")).toBe(NOW);
    expect(parseTimestamp("2026-01-05T10:00:00.123456+00:00")).toBe(NOW + 123);
    expect(parseTimestamp("2026-01-05T10:00:00+00:00")).toBe(NOW);
    expect(parseTimestamp(null)).toBeNull();
    expect(parseTimestamp("yesterday")).toBeNull();
  });

  it.each([
    ["2026-01-05T10:00:00+00:00", "just now"],
    ["2026-01-05T09:59:48+00:00", "12 s ago"],
    ["2026-01-05T09:57:00+00:00", "3 min ago"],
    ["2026-01-05T08:00:00+00:00", "2 h ago"],
    ["2026-01-01T10:00:00+00:00", "4 d ago"],
    ["2026-01-05T10:00:05+00:00", "just now"], // clock skew: never "in the future"
    [null, "never"],
  ])("formatAgo(%s) = %s", (ts, want) => expect(formatAgo(ts, NOW)).toBe(want));

  it("formats time to a deadline", () => {
    expect(formatUntil("2026-01-05T10:04:10+00:00", NOW)).toBe("in 4 min");
    expect(formatUntil("2026-01-05T12:07:00+00:00", NOW)).toBe("in 2 h 07 min");
    expect(formatUntil("2026-01-05T09:00:00+00:00", NOW)).toBe("overdue");
    expect(formatUntil(null, NOW)).toBe("—");
  });

  it.each([
    [0.85, "850 ms"],
    [42, "42 s"],
    [185, "3 min 05 s"],
    [7620, "2 h 07 min"],
    [-1, "—"],
  ])("formatDuration(%s) = %s", (s, want) => expect(formatDuration(s)).toBe(want));
});

describe("text", () => {
  it("normalises log levels", () => {
    expect(normaliseLevel("warn")).toBe("WARNING");
    expect(normaliseLevel("Warning")).toBe("WARNING");
    expect(normaliseLevel("")).toBe("INFO");
    expect(normaliseLevel("error")).toBe("ERROR");
  });

  it("humanises enum names", () => {
    expect(humanise("HALF_OPEN")).toBe("Half open");
    expect(humanise("running")).toBe("Running");
    expect(humanise(null)).toBe("—");
  });
});
