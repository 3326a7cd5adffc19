// The dashboard against a real musterd in real headless Chromium: the
// aggregate from posted updates, live updates without reload, the worker
// view and its URL, a silent worker turning stale, and reconnecting after
// the server restarts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, Musterd, sleep, type Browser } from "./harness";

const text = (b: Browser, testId: string) => b.page.getByTestId(testId).first().innerText();
const poll = <T>(fn: () => Promise<T>, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });

describe("dashboard", () => {
  let srv: Musterd;
  let b: Browser;
  let heartbeats: ReturnType<typeof setInterval>;
  const live = new Set(["w1", "w2", "w3"]);

  beforeAll(async () => {
    // A short stale-after so a silent worker turns stale within the test; the
    // others keep sending heartbeats, as real workers do.
    srv = await Musterd.start(["--stale-after=2s"]);
    heartbeats = setInterval(() => {
      for (const id of live) srv.post(`worker/${id}/heartbeat`, { worker_type: id === "w3" ? "discovery" : "extraction" }).catch(() => {});
    }, 500);
    // The contract's worked example: A 100/300 at 90 %, B 50/200 at 80 %, C idle.
    await srv.status("w1", { status: "running", parishes_processed: 100, total_parishes: 300, success_rate: 90, current_diocese: "Archdiocese of Atlanta" });
    await srv.status("w2", { status: "running", parishes_processed: 50, total_parishes: 200, success_rate: 80, current_diocese: "Diocese of Boise" });
    await srv.status("w3", { status: "idle" });
    await srv.post("worker/w1/circuit_breakers", {
      parish_directory: { state: "OPEN", total_requests: 40, total_successes: 30, total_failures: 10, total_blocked: 5, success_rate: 75 },
      diocese_site: { state: "CLOSED", total_requests: 100, total_successes: 99, total_failures: 1, total_blocked: 0, success_rate: 99 },
    });
    await srv.post("worker/w2/circuit_breakers", {
      diocese_site: { state: "half_open", total_requests: 20, total_failures: 4, total_blocked: 0, success_rate: "80%" },
    });
    await srv.post("worker/w2/error", { type: "TimeoutError", message: "GET https://example.org timed out", diocese: "Diocese of Boise", severity: "high" });
    await srv.post("worker/w1/log", { message: "Extracting parish 100", level: "INFO", module: "extractor", worker_type: "extraction" });
    await srv.post("worker/w1/extraction_complete", { diocese_name: "Diocese of Savannah", parishes_extracted: 42, success_rate: 97.5, duration: 185, status: "completed" });
    b = await launch();
    await b.page.goto(srv.url + "/");
  });

  afterAll(async () => {
    clearInterval(heartbeats);
    await b?.close();
    await srv?.stop();
  });

  it("shows the aggregate from posted updates", async () => {
    await poll(() => text(b, "connection")).toContain("Live");
    await poll(() => text(b, "parishes")).toBe("150 / 500");
    expect(await text(b, "active-workers")).toBe("2");
    expect(await text(b, "total-workers")).toBe("3");
    expect(await text(b, "success-rate")).toBe("86.7 %");
    expect(await text(b, "progress-pct")).toBe("30.0 %");
    expect(await text(b, "dioceses")).toContain("Archdiocese of Atlanta");
    // Breakers worst first, with how many workers report each state.
    const breakers = b.page.getByTestId("breakers").locator("tbody tr");
    expect(await breakers.nth(0).getAttribute("data-breaker")).toBe("parish_directory");
    expect(await breakers.nth(0).innerText()).toMatch(/Open/);
    expect(await breakers.nth(1).innerText()).toMatch(/diocese_site\s+Half open\s+120\s+95\.8 %/);
    expect(await breakers.nth(1).innerText()).toContain("1 half-open");
    // Workers table, errors, completions and the log.
    expect(await b.page.locator('[data-worker="w1"]').innerText()).toMatch(/w1\s+extraction\s+Running/);
    expect(await b.page.getByTestId("errors-card").innerText()).toContain("TimeoutError");
    expect(await b.page.getByTestId("history-card").innerText()).toContain("Diocese of Savannah");
    expect(await b.page.getByTestId("log-card").innerText()).toContain("Extracting parish 100");
  });

  it("shows a new update without reload", async () => {
    await b.page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await srv.status("w1", { status: "running", parishes_processed: 200, total_parishes: 300, success_rate: 90, current_diocese: "Archdiocese of Atlanta" });
    await poll(() => text(b, "parishes")).toBe("250 / 500");
    await srv.post("worker/w2/log", { message: "a brand new line", level: "WARNING", module: "fetch" });
    await poll(() => b.page.getByTestId("log-card").innerText()).toContain("a brand new line");
    // Log filters: by level, then pause.
    await b.page.getByLabel("Filter log by level").selectOption("WARNING");
    expect(await b.page.getByTestId("log-rows").innerText()).not.toContain("Extracting parish 100");
    await b.page.getByLabel("Filter log by level").selectOption("");
    await b.page.getByRole("button", { name: "Pause" }).click();
    await srv.post("worker/w2/log", { message: "while paused", level: "INFO" });
    await poll(() => b.page.getByTestId("log-card").innerText()).toMatch(/Resume \(\d+ new\)/);
    expect(await b.page.getByTestId("log-rows").innerText()).not.toContain("while paused");
    await b.page.getByRole("button", { name: /Resume/ }).click();
    await poll(() => b.page.getByTestId("log-rows").innerText()).toContain("while paused");
    expect(await b.page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(42);
  });

  it("selects a worker with the keyboard, shows its panels and puts it in the URL", async () => {
    const { page } = b;
    await page.getByTestId("selector").focus();
    await page.keyboard.press("ArrowDown"); // opens the list
    await page.keyboard.type("w2");
    await page.keyboard.press("Enter");
    await poll(async () => new URL(page.url()).hash).toBe("#/worker/w2");
    await poll(() => text(b, "worker-parishes")).toBe("50 / 200");
    const view = page.getByTestId("worker-view");
    expect(await view.getAttribute("data-worker")).toBe("w2");
    expect(await text(b, "worker-success")).toBe("80.0 %");
    expect(await view.getByTestId("breakers").innerText()).toContain("diocese_site");
    expect(await view.getByTestId("errors-card").innerText()).toContain("TimeoutError");
    expect(await view.getByTestId("log-card").innerText()).toContain("a brand new line");
    expect(await view.getByTestId("log-card").innerText()).not.toContain("Extracting parish 100"); // w1's line
    expect(await text(b, "worker-health")).toContain("Fresh");
    expect(await text(b, "selector")).toContain("w2");
    // Live in the worker view too.
    await srv.status("w2", { status: "paused", parishes_processed: 60, total_parishes: 200, success_rate: 81, current_diocese: "Diocese of Boise" });
    await poll(() => text(b, "worker-parishes")).toBe("60 / 200");
    expect(await text(b, "worker-status")).toContain("Paused");
    // The URL is shareable: a fresh page opens straight into the worker view.
    const other = await b.context.newPage();
    await other.goto(`${srv.url}/#/worker/w1`);
    await poll(() => other.getByTestId("worker-parishes").innerText()).toBe("200 / 300");
    await other.close();
    // Back to the aggregate view with the keyboard: "/" opens the list, Home, Enter.
    await page.keyboard.press("/");
    await page.keyboard.press("Home");
    await page.keyboard.press("Enter");
    await poll(async () => new URL(page.url()).hash).toBe("#/");
    await page.getByTestId("aggregate-view").waitFor();
    // Browser history works too.
    await page.goBack();
    await poll(async () => new URL(page.url()).hash).toBe("#/worker/w2");
    await page.getByTestId("worker-view").waitFor();
    await page.goto(srv.url + "/#/");
    await page.getByTestId("aggregate-view").waitFor();
  });

  it("marks a silent worker stale", async () => {
    await srv.status("quiet", { status: "running", parishes_processed: 5, total_parishes: 10, success_rate: 100 });
    const row = b.page.locator('[data-worker="quiet"]');
    await poll(() => row.count()).toBe(1);
    // No heartbeats for "quiet": after --stale-after=2s it turns stale.
    await poll(() => row.locator("[data-health]").getAttribute("data-health"), 10_000).toBe("stale");
    expect(await row.innerText()).toContain("Stale");
    expect(await text(b, "stale-workers")).toBe("1");
    expect(await text(b, "active-workers")).toBe("2");
    expect(await b.page.locator('[data-worker="w1"] [data-health]').getAttribute("data-health")).toBe("fresh");
  });

  it("reconnects after the server restarts", async () => {
    await b.page.evaluate(() => ((window as unknown as { marker: number }).marker = 7));
    await srv.stop();
    await poll(() => b.page.getByTestId("connection").getAttribute("data-state")).toBe("reconnecting");
    expect(await text(b, "connection")).toMatch(/Disconnected — retrying/);
    await sleep(1500);
    await srv.start(); // same ports; an in-memory server starts empty
    await srv.status("reborn", { status: "running", parishes_processed: 7, total_parishes: 70, success_rate: 99 });
    await poll(() => b.page.getByTestId("connection").getAttribute("data-state"), 15_000).toBe("live");
    // Resynced from the new server's snapshot: the old fleet is gone, the new worker is there.
    await poll(() => b.page.locator('[data-worker="reborn"]').count()).toBe(1);
    await poll(() => text(b, "parishes")).toMatch(/^\d+ \/ \d+$/);
    expect(await b.page.locator('[data-worker="quiet"]').count()).toBe(0);
    // And it keeps following the new stream.
    await srv.status("reborn", { status: "running", parishes_processed: 8, total_parishes: 70, success_rate: 99 });
    await poll(() => b.page.locator('[data-worker="reborn"]').innerText()).toContain("8 / 70");
    expect(await b.page.evaluate(() => (window as unknown as { marker: number }).marker)).toBe(7);
  });
});
