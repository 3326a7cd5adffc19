// Screenshots of both views for the README (docs/), taken while
// `muster simulate` drives a realistic fleet against a real musterd.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, MUSTER, Musterd, ROOT, sleep, type Browser } from "./harness";

const DOCS = join(ROOT, "docs");

describe("screenshots", () => {
  let srv: Musterd;
  let sim: ReturnType<typeof spawn>;
  let b: Browser;

  beforeAll(async () => {
    if (!existsSync(MUSTER)) throw new Error(`${MUSTER} not found: run npm run musterd first`);
    srv = await Musterd.start(["--stale-after=8s"]);
    sim = spawn(MUSTER, ["simulate", `--grpc-addr=${srv.grpcAddr}`, `--http-url=${srv.url}`, "--workers=10", "--legacy-workers=2", "--step=150ms", "--silent-after=5s", "--duration=60s"], { stdio: "ignore" });
    b = await launch({ width: 1440, height: 900 });
    await b.page.goto(srv.url + "/");
    mkdirSync(DOCS, { recursive: true });
  });

  afterAll(async () => {
    sim?.kill("SIGINT");
    await b?.close();
    await srv?.stop();
  });

  it("saves the aggregate view", async () => {
    // Long enough for the throughput line, breakers, errors and the silent worker to show.
    await sleep(25_000);
    await b.page.mouse.move(0, 0);
    expect(Number(await b.page.getByTestId("total-workers").innerText())).toBeGreaterThanOrEqual(10);
    await b.page.screenshot({ path: join(DOCS, "dashboard-aggregate.png"), fullPage: true });
  });

  it("saves a worker view", async () => {
    // A busy, fresh worker, so its panels have something to show.
    const row = b.page.locator('[data-worker]:has([data-health="fresh"]):has([data-status="running"]) a').nth(2);
    const id = await row.innerText();
    await row.click();
    await b.page.getByTestId("worker-view").waitFor();
    expect(new URL(b.page.url()).hash).toBe(`#/worker/${encodeURIComponent(id)}`);
    await sleep(10_000);
    await b.page.mouse.move(0, 0);
    await b.page.screenshot({ path: join(DOCS, "dashboard-worker.png"), fullPage: true });
    if (process.env.MUSTER_DARK_SHOTS) {
      await b.page.emulateMedia({ colorScheme: "dark" });
      await sleep(500);
      await b.page.screenshot({ path: join(process.env.MUSTER_DARK_SHOTS, "dashboard-worker-dark.png"), fullPage: true });
      await b.page.goto(srv.url + "/#/");
      await sleep(3000);
      await b.page.screenshot({ path: join(process.env.MUSTER_DARK_SHOTS, "dashboard-aggregate-dark.png"), fullPage: true });
    }
  });
});
