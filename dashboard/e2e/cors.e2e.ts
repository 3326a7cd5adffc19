// A page served on another origin calling musterd, as the old React
// dashboard does (served on its own origin, REST and /ws/monitoring on
// musterd's): a JSON POST (preflighted), a GET and the WebSocket, in real
// headless Chromium. With --cors-origin naming that origin all three work;
// without it the browser blocks the fetches and the WebSocket handshake, and
// nothing is written.
import { createServer, request, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extraction, freePort, launch, Musterd, type Browser } from "./harness";

/** What the page's script found, as it publishes it in window.__result. */
interface Result {
  origin: string;
  post: { status?: number; body?: unknown; error?: string };
  get: { status?: number; body?: { worker_id?: string }; error?: string };
  ws: { opened: boolean; errored: boolean; message?: string; closeCode?: number; timeout?: boolean };
}

const BODY = extraction({ status: "running", parishes_processed: 3, total_parishes: 9, success_rate: 100, current_diocese: "Diocese of Elsewhere" });

// The page reads musterd's address from ?api= and runs on load.
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Another origin</title></head>
<body><pre id="out">running</pre>
<script>
(async () => {
  const api = new URLSearchParams(location.search).get("api");
  const out = { origin: location.origin };
  const failure = (e) => String(e && e.name) + ": " + String(e && e.message);
  try {
    const r = await fetch(api + "/api/monitoring/worker/x/extraction_status", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(${JSON.stringify(BODY)}),
    });
    out.post = { status: r.status, body: await r.json() };
  } catch (e) {
    out.post = { error: failure(e) };
  }
  try {
    const r = await fetch(api + "/api/monitoring/worker/x");
    out.get = { status: r.status, body: await r.json() };
  } catch (e) {
    out.get = { error: failure(e) };
  }
  out.ws = await new Promise((resolve) => {
    const ws = new WebSocket(api.replace(/^http/, "ws") + "/ws/monitoring");
    const seen = { opened: false, errored: false };
    const timer = setTimeout(() => { resolve({ ...seen, timeout: true }); ws.close(); }, 10000);
    const done = (extra) => { clearTimeout(timer); resolve({ ...seen, ...extra }); };
    ws.onopen = () => { seen.opened = true; };
    ws.onerror = () => { seen.errored = true; };
    ws.onmessage = (e) => { done({ message: JSON.parse(e.data).type }); ws.close(); };
    ws.onclose = (e) => done({ closeCode: e.code });
  });
  window.__result = out;
  document.getElementById("out").textContent = JSON.stringify(out, null, 2);
})();
</script></body></html>`;

/** serveOrigin serves PAGE at / on a free port of its own: another origin. */
async function serveOrigin(): Promise<{ server: Server; origin: string }> {
  const port = await freePort();
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/?") || req.url === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      res.end(PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return { server, origin: `http://127.0.0.1:${port}` };
}

/** preflight sends the OPTIONS request a browser sends before the JSON POST (node's fetch would not send Origin as given). */
function preflight(url: string, origin: string): Promise<{ status: number; allowOrigin: string | undefined }> {
  return new Promise((res, rej) => {
    const req = request(url, {
      method: "OPTIONS",
      headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    req.on("response", (r) => {
      r.resume();
      r.on("end", () => res({ status: r.statusCode ?? 0, allowOrigin: r.headers["access-control-allow-origin"] as string | undefined }));
    });
    req.on("error", rej);
    req.end();
  });
}

/** run opens the page on the other origin and waits for its result. */
async function run(b: Browser, origin: string, srv: Musterd): Promise<{ result: Result; logs: string[] }> {
  const logs: string[] = [];
  b.page.on("console", (m) => logs.push(m.text()));
  await b.page.goto(`${origin}/?api=${encodeURIComponent(srv.url)}`);
  await b.page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, undefined, { timeout: 20_000 });
  const result = await b.page.evaluate(() => (window as unknown as { __result: Result }).__result);
  return { result, logs };
}

describe("another origin admitted with --cors-origin", () => {
  let origin: { server: Server; origin: string };
  let srv: Musterd;
  let b: Browser;

  beforeAll(async () => {
    origin = await serveOrigin();
    srv = await Musterd.start([`--cors-origin=${origin.origin}`]);
    b = await launch();
  });

  afterAll(async () => {
    await b?.close();
    await srv?.stop();
    origin?.server.close();
  });

  it("answers the preflight for that origin with 204, and refuses others with 403", async () => {
    const url = `${srv.url}/api/monitoring/worker/x/extraction_status`;
    expect(await preflight(url, origin.origin)).toEqual({ status: 204, allowOrigin: origin.origin });
    expect(await preflight(url, "http://127.0.0.1:1")).toMatchObject({ status: 403, allowOrigin: undefined });
  });

  it("lets the page POST, GET and open the WebSocket", async () => {
    const { result, logs } = await run(b, origin.origin, srv);
    expect(result.origin).toBe(origin.origin);
    expect(result.origin).not.toBe(srv.url);
    expect(result.post, logs.join("\n")).toEqual({ status: 200, body: { status: "success" } });
    expect(result.get.status).toBe(200);
    expect(result.get.body?.worker_id).toBe("x");
    expect(result.ws.opened).toBe(true);
    expect(result.ws.errored).toBe(false);
    expect(typeof result.ws.message).toBe("string");
    expect(logs.filter((l) => /CORS|WebSocket/.test(l))).toEqual([]);
    // The write really happened on the server.
    const got = await srv.get("worker/x");
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).toContain("Diocese of Elsewhere");
  });
});

describe("another origin without --cors-origin", () => {
  let origin: { server: Server; origin: string };
  let srv: Musterd;
  let b: Browser;

  beforeAll(async () => {
    origin = await serveOrigin();
    srv = await Musterd.start();
    b = await launch();
  });

  afterAll(async () => {
    await b?.close();
    await srv?.stop();
    origin?.server.close();
  });

  it("is kept out: the fetches fail with a CORS error, the WebSocket does not open, nothing is written", async () => {
    const url = `${srv.url}/api/monitoring/worker/x/extraction_status`;
    expect((await preflight(url, origin.origin)).allowOrigin).toBeUndefined();

    const { result, logs } = await run(b, origin.origin, srv);
    // fetch rejects with a TypeError; the reason is in the console.
    expect(result.post.error).toMatch(/^TypeError: /);
    expect(result.post.status).toBeUndefined();
    expect(result.get.error).toMatch(/^TypeError: /);
    expect(result.get.status).toBeUndefined();
    const blocked = logs.filter((l) => /blocked by CORS policy/.test(l));
    expect(blocked.some((l) => l.includes("/worker/x/extraction_status") && /preflight/i.test(l)), logs.join("\n")).toBe(true);
    expect(blocked.some((l) => l.includes("/api/monitoring/worker/x'")), logs.join("\n")).toBe(true);
    // The WebSocket handshake is refused (403): it never opens.
    expect(result.ws.opened).toBe(false);
    expect(result.ws.errored).toBe(true);
    expect(result.ws.message).toBeUndefined();
    expect(result.ws.closeCode).toBe(1006);
    expect(logs.some((l) => /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws\/monitoring' failed/.test(l)), logs.join("\n")).toBe(true);
    // The preflight failed, so the POST was never sent.
    expect((await srv.get("worker/x")).status).toBe(404);
  });
});
