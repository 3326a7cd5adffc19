// Test harness for the browser tests: a real musterd on free ports, a real
// headless Chromium (Debian's, driven by playwright-core), and helpers to
// post updates over REST the way workers do.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const ROOT = resolve(__dirname, "../..");
export const MUSTERD = process.env.MUSTERD ?? join(ROOT, "bin/musterd");
export const MUSTER = process.env.MUSTER ?? join(ROOT, "bin/muster");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** freePort asks the kernel for a free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? res(addr.port) : rej(new Error("no port"))));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Musterd runs bin/musterd; stop and start again keep the same ports. */
export class Musterd {
  proc: ChildProcess | null = null;
  output = "";
  private constructor(
    readonly httpPort: number,
    readonly grpcPort: number,
    readonly flags: string[],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }
  get grpcAddr(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  static async start(flags: string[] = []): Promise<Musterd> {
    if (!existsSync(MUSTERD)) throw new Error(`${MUSTERD} not found: run npm run musterd (or make build) first`);
    const m = new Musterd(await freePort(), await freePort(), flags);
    await m.start();
    return m;
  }

  async start(): Promise<void> {
    const args = [`--http-addr=127.0.0.1:${this.httpPort}`, `--grpc-addr=127.0.0.1:${this.grpcPort}`, "--store=memory", ...this.flags];
    const proc = spawn(MUSTERD, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-20_000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`musterd exited (${proc.exitCode}):\n${this.output}`);
      try {
        // 401: up, and wanting a token (--read-token).
        const r = await fetch(`${this.url}/api/monitoring/workers`);
        await r.arrayBuffer();
        if (r.ok || r.status === 401) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`musterd did not become ready:\n${this.output}`);
      await sleep(50);
    }
  }

  /** stop ends musterd (SIGTERM, then SIGKILL after 5 s) and waits for it. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** post sends one update over REST, as a worker would, and checks the answer. */
  async post(path: string, body: unknown = {}): Promise<void> {
    const r = await fetch(`${this.url}/api/monitoring/${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  }

  /** get reads an API path (with a bearer token when given) and returns the status and the JSON body. */
  async get(path: string, token?: string): Promise<{ status: number; body: unknown }> {
    const r = await fetch(`${this.url}/api/monitoring/${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: r.status, body };
  }

  status(id: string, s: Partial<ExtractionBody>): Promise<void> {
    return this.post(`worker/${id}/extraction_status`, extraction(s));
  }
}

interface ExtractionBody {
  status: string;
  current_diocese: string | null;
  parishes_processed: number;
  total_parishes: number;
  success_rate: number;
  progress_percentage: number;
  started_at: string | null;
  estimated_completion: string | null;
}

/** extraction is a whole extraction status body, as the deployed scripts send it. */
export function extraction(s: Partial<ExtractionBody>): ExtractionBody {
  const done = s.parishes_processed ?? 0;
  const total = s.total_parishes ?? 0;
  return {
    status: "running",
    current_diocese: null,
    success_rate: 0,
    started_at: null,
    estimated_completion: null,
    ...s,
    parishes_processed: done,
    total_parishes: total,
    progress_percentage: s.progress_percentage ?? (total > 0 ? Math.round((done / total) * 1000) / 10 : 0),
  };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** launch starts Debian's Chromium headless with a fresh profile and opens one page. */
export async function launch(viewport = { width: 1440, height: 900 }, colorScheme: "light" | "dark" = "light"): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "muster-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    colorScheme,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      if (errors.length) console.warn("page errors:\n" + errors.join("\n"));
    },
  };
}
