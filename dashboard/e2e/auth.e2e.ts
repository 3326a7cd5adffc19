// The dashboard against a musterd started with --read-token, in real
// headless Chromium: the page asks for the token in a form, a wrong token is
// refused, the right one shows the live fleet, a reload does not ask again,
// and signing out forgets it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, Musterd, type Browser } from "./harness";

const TOKEN = "read-s3cret";
const KEY = "muster-read-token";
const poll = <T>(fn: () => Promise<T>, timeout = 10_000) => expect.poll(fn, { timeout, interval: 100 });

describe("dashboard with a read token", () => {
  let srv: Musterd;
  let b: Browser;
  /** Every watch request the page made: the Authorization it sent and the status it got. */
  const watches: { auth: string | null; status: number }[] = [];
  /** Dialogs (window.prompt and the like) the page opened: there must be none. */
  const dialogs: string[] = [];

  beforeAll(async () => {
    srv = await Musterd.start(["--read-token=" + TOKEN]);
    // Writes stay open (no --auth-token): workers report as usual.
    await srv.status("w1", { status: "running", parishes_processed: 100, total_parishes: 300, success_rate: 90, current_diocese: "Archdiocese of Atlanta" });
    await srv.status("w2", { status: "running", parishes_processed: 50, total_parishes: 200, success_rate: 80, current_diocese: "Diocese of Boise" });
    b = await launch();
    b.page.on("response", async (r) => {
      if (!r.url().includes("/api/monitoring/watch")) return;
      watches.push({ auth: (await r.request().allHeaders())["authorization"] ?? null, status: r.status() });
    });
    b.page.on("dialog", (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    await b.page.goto(srv.url + "/");
  });

  afterAll(async () => {
    await b?.close();
    await srv?.stop();
  });

  const stored = () => b.page.evaluate((k) => localStorage.getItem(k), KEY);
  const state = () => b.page.getByTestId("connection").getAttribute("data-state");

  it("asks for the token in the page, and shows no fleet without it", async () => {
    const { page } = b;
    const form = page.getByRole("form", { name: "Access token required" });
    await form.waitFor();
    expect(await state()).toBe("auth");
    expect(await page.getByTestId("connection").innerText()).toContain("Access token needed");
    // The field is labelled, focused and a password field.
    const input = page.getByLabel("Access token", { exact: true });
    expect(await input.getAttribute("type")).toBe("password");
    await poll(() => input.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await page.getByTestId("aggregate-view").count()).toBe(0);
    expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(0);
    expect(watches[0]).toEqual({ auth: null, status: 401 });
    expect(dialogs).toEqual([]);
  });

  it("refuses a wrong token with a clear message", async () => {
    const { page } = b;
    await page.getByLabel("Access token", { exact: true }).fill("not-the-token");
    await page.getByRole("button", { name: "Connect" }).click();
    const alert = page.getByRole("alert");
    await poll(() => alert.count()).toBe(1);
    expect(await alert.innerText()).toMatch(/refused that token.*Check it and try again/);
    expect(await page.getByLabel("Access token", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    expect(await state()).toBe("auth");
    expect(await stored()).toBeNull();
    expect(watches.at(-1)).toEqual({ auth: "Bearer not-the-token", status: 401 });
    expect(await page.getByTestId("aggregate-view").count()).toBe(0);
  });

  it("shows the live fleet with the right token", async () => {
    const { page } = b;
    await page.getByLabel("Access token", { exact: true }).fill(TOKEN);
    await page.keyboard.press("Enter");
    await poll(() => state()).toBe("live");
    await poll(() => page.getByTestId("parishes").innerText()).toBe("150 / 500");
    expect(await page.getByTestId("token-form").count()).toBe(0);
    expect(await stored()).toBe(TOKEN);
    expect(watches.at(-1)).toEqual({ auth: `Bearer ${TOKEN}`, status: 200 });
    // Live: a new update shows without reload.
    await srv.status("w2", { status: "running", parishes_processed: 150, total_parishes: 200, success_rate: 80, current_diocese: "Diocese of Boise" });
    await poll(() => page.getByTestId("parishes").innerText()).toBe("250 / 500");
  });

  it("does not ask again after a reload", async () => {
    const { page } = b;
    const before = watches.length;
    await page.reload();
    await poll(() => state()).toBe("live");
    await poll(() => page.getByTestId("parishes").innerText()).toBe("250 / 500");
    // Every watch since the reload carried the token and none was refused,
    // so the form was never shown.
    const since = watches.slice(before);
    expect(since.length).toBeGreaterThan(0);
    expect(since.every((w) => w.auth === `Bearer ${TOKEN}` && w.status === 200)).toBe(true);
    expect(await page.getByTestId("token-form").count()).toBe(0);
    // The worker view too (a new watch, with ?worker_id=).
    await page.goto(`${srv.url}/#/worker/w1`);
    await poll(() => page.getByTestId("worker-parishes").innerText()).toBe("100 / 300");
    await page.goto(`${srv.url}/#/`);
    await page.getByTestId("aggregate-view").waitFor();
  });

  it("signs out: forgets the token and asks again, also after a reload", async () => {
    const { page } = b;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("form", { name: "Access token required" }).waitFor();
    expect(await stored()).toBeNull();
    expect(await page.getByTestId("aggregate-view").count()).toBe(0);
    expect(await page.getByRole("alert").count()).toBe(0); // asked, not refused
    await page.reload();
    await page.getByRole("form", { name: "Access token required" }).waitFor();
    expect(await state()).toBe("auth");
    expect(await page.getByRole("button", { name: "Sign out" }).count()).toBe(0);
    expect(dialogs).toEqual([]);
  });
});
