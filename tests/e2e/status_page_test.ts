/**
 * The live status page in a real headless Chromium (Debian's, installed by .ci/run), driven by
 * npm playwright-core. Set WSGATE_SCREENSHOTS=docs to keep the screenshots (docs/status.png, the
 * whole page after some varied traffic; docs/status-tunnels.png, the tunnel table). The page's
 * own Drain/Undrain/Close POSTs carry the browser's Origin and Sec-Fetch-Site, so these tests
 * also show that the admin's CSRF guard lets the page itself through.
 */
import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs, type WsClient } from "./_clients.ts";
import { eventually, type Gateway, oneRouteConfig, startGateway, tempDir } from "./_harness.ts";
import { type RoundTrip, viaRawWs, viaWsClient } from "./_ops.ts";
import { statusConfig } from "./_status.ts";
import { parseResponse, rawRequest, text, upgradeRequest } from "./_wire.ts";

const CHROMIUM = "/usr/bin/chromium";
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** A headless Chromium with a throwaway profile, closed (and the profile removed) on dispose. */
async function launchBrowser(): Promise<{ browser: BrowserContext } & AsyncDisposable> {
  await Deno.stat(CHROMIUM).catch(() => {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  });
  const tmp = await tempDir();
  const browser = await chromium.launchPersistentContext(`${tmp.path}/profile`, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 680 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    browser,
    [Symbol.asyncDispose]: async () => {
      await browser.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** `drained` of each server of group `app`, from /status.json (with the token, if any). */
async function drainedFlags(gw: Gateway, token?: string): Promise<boolean[]> {
  const auth = token ? `Authorization: Bearer ${token}\r\n` : "";
  const request = `GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}\r\n`;
  const answer = parseResponse(await rawRequest(gw.adminPort, request));
  assert.equal(answer.status, 200);
  const status = JSON.parse(text(answer.body)) as {
    upstreams: { name: string; servers: { drained: boolean }[] }[];
  };
  return status.upstreams.find((u) => u.name === "app")!.servers.map((s) => s.drained);
}

/** Clicks the first server's Drain, then its Undrain, checking the gateway's state after each. */
async function drainAndUndrain(page: Page, gw: Gateway, token?: string): Promise<void> {
  const firstRow = page.locator("#upstreams tbody tr").first();
  await firstRow.getByRole("button", { name: "Drain" }).click();
  await firstRow.getByText("drained", { exact: true }).waitFor({ timeout: 5_000 });
  assert.deepEqual(await drainedFlags(gw, token), [true, false]);
  await firstRow.getByRole("button", { name: "Undrain" }).click();
  await firstRow.getByRole("button", { name: "Drain" }).waitFor({ timeout: 5_000 });
  assert.deepEqual(await drainedFlags(gw, token), [false, false]);
  assert.equal(await page.locator("#error").isVisible(), false, "no error banner");
}

Deno.test("status page: a headless browser shows live tunnels, listeners and upstream servers", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([a.address, b.address], { top: { admin: { listen: "127.0.0.1:0" } } }),
  });
  const clients = await Promise.all([0, 1, 2].map((i) => openNodeWs(`ws://127.0.0.1:${gw.port}/page${i}`)));
  await using tmp = await tempDir();
  await using chromium = await launchBrowser();
  try {
    for (const [i, client] of clients.entries()) {
      client.send(`message ${i}`);
      assert.equal(await client.next(), `message ${i}`);
    }
    const page = await chromium.browser.newPage();
    const url = `http://127.0.0.1:${gw.adminPort}/status`;
    assert.equal((await page.goto(url))?.status(), 200);
    const tunnelsShown = (n: number) =>
      page.waitForFunction(`document.getElementById("active-tunnels").textContent === "${n}"`, null, {
        timeout: 5_000,
      });
    await tunnelsShown(3);

    assert.deepEqual(await page.locator("#listeners td code").allTextContents(), [`127.0.0.1:${gw.port}`]);
    const rows = page.locator("#upstreams tbody tr");
    assert.equal(await rows.count(), 2);
    for (const [i, backend] of [a, b].entries()) {
      const cells = await rows.nth(i).locator("td").allTextContents();
      assert.equal(cells[0], backend.address);
      assert.equal(cells[1], "healthy");
    }
    assert.match((await page.locator("#meta").textContent()) ?? "", /1 worker/);
    assert.equal(await page.locator("#login").isVisible(), false, "no token asked for");

    await clients.pop()![Symbol.asyncDispose]();
    await tunnelsShown(2);
    const screenshot = `${tmp.path}/status.png`;
    await page.screenshot({ path: screenshot, fullPage: true });
    const png = await Deno.readFile(screenshot);
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);

    assert.equal(await page.locator("#error").isVisible(), false, "no error banner");
    assert.equal(await page.locator("#draining").isVisible(), false, "no draining badge while serving");

    await drainAndUndrain(page, gw);

    // Another site's page (another origin on this machine) POSTs the same drain: refused.
    const drain = `http://127.0.0.1:${gw.adminPort}/upstreams/app/servers/${
      encodeURIComponent(a.address)
    }/drain`;
    await using evil = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () =>
      new Response(
        `<script>fetch(${JSON.stringify(drain)}, { method: "POST", mode: "no-cors", body: "x" })</script>`,
        { headers: { "content-type": "text/html" } },
      ));
    await page.goto(`http://localhost:${evil.addr.port}/`);
    const refused = await gw.waitForEvent("admin_reject", { status: "403" });
    assert.match(refused.fields.reason ?? "", /Origin "http:\/\/localhost:\d+"/);
    assert.deepEqual(await drainedFlags(gw), [false, false], "nothing drained");
  } finally {
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
  }
});

Deno.test("status page: with admin.token_file the page asks for the token, then works as usual", async () => {
  const token = "page-t0ken";
  // Nothing listens on these: the page only shows and drains them.
  await using gw = await startGateway({
    config: oneRouteConfig(["127.0.0.1:1", "127.0.0.1:2"], {
      top: { admin: { listen: "127.0.0.1:0", token_file: "admin.token" } },
    }),
    files: { "admin.token": `${token}\n` },
  });
  await using chromium = await launchBrowser();
  const page = await chromium.browser.newPage();
  assert.equal((await page.goto(`http://127.0.0.1:${gw.adminPort}/status`))?.status(), 401);
  await page.locator("#login").waitFor({ timeout: 5_000 });
  assert.match((await page.locator("#error").textContent()) ?? "", /needs the admin token/);
  assert.equal(await page.locator("#upstreams tbody tr").count(), 0, "no data without the token");

  await page.locator("#token").fill("wrong");
  await page.getByRole("button", { name: "Use" }).click();
  await page.getByText("The admin token was not accepted.").waitFor({ timeout: 5_000 });

  await page.locator("#token").fill(token);
  await page.getByRole("button", { name: "Use" }).click();
  await page.locator("#upstreams tbody tr").nth(1).waitFor({ timeout: 5_000 });
  assert.equal(await page.locator("#login").isVisible(), false);
  await drainAndUndrain(page, gw, token);
});

/**
 * Traffic with a shape for the charts: echo rounds on every tunnel at a rate that rises and falls,
 * extra tunnels that come and go, and phases of refusals: a client retrying a path no route serves
 * (404), upgrades to the route whose server is down (502), a bad key now and then (400).
 */
class VariedTraffic {
  failure: Error | undefined;
  #running = true;
  /** The tunnels that come and go, closed by stop(). */
  readonly #extra: RawWs[] = [];
  readonly #done: Promise<void>;

  constructor(port: number, roundTrips: RoundTrip[]) {
    this.#done = this.#run(port, roundTrips).catch((err) => {
      this.failure = err;
    });
  }

  async #run(port: number, roundTrips: RoundTrip[]): Promise<void> {
    const answer = async (request: string, status: number) => {
      assert.match(text(await rawRequest(port, request)), new RegExp(`^HTTP/1\\.1 ${status} `));
    };
    for (let tick = 0; this.#running; tick++) {
      const rounds = 1 + Math.round(4 * (1 + Math.sin(tick / 8)));
      for (let i = 0; i < rounds; i++) {
        await Promise.all(roundTrips.map(async (roundTrip, n) => {
          const message = `${tick}.${i}`.padEnd(10 + ((tick + 17 * n) % 100), ".");
          assert.equal(await roundTrip(message), message);
        }));
      }
      const extra = Math.round(3 + 3 * Math.sin(tick / 20));
      if (this.#extra.length < extra) {
        const client = await RawWs.open(port, { path: `/raw/extra-${tick}` });
        assert.equal(await viaRawWs(client)("hi"), "hi");
        this.#extra.push(client);
      } else if (this.#extra.length > extra) await this.#extra.shift()![Symbol.asyncDispose]();
      const phase = Math.floor(tick / 40) % 4;
      if (phase === 1 && tick % 3 === 0) await answer(upgradeRequest({ path: "/nowhere" }), 404);
      if (phase === 3 && tick % 4 === 0) await answer(upgradeRequest({ path: "/dead/x" }), 502);
      if (tick % 29 === 7) {
        await answer(upgradeRequest({ path: "/raw/", headers: [["Sec-WebSocket-Key", "bad"]] }), 400);
      }
      await new Promise((resolve) => setTimeout(resolve, 80));
    }
  }

  /** Ends the traffic and closes the extra tunnels; throws what went wrong on the way. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
    for (const client of this.#extra.splice(0)) await client[Symbol.asyncDispose]();
    if (this.failure) throw this.failure;
  }
}

/** The `d` of a chart's first line ("" before it is drawn). */
const lineOf = async (page: Page, chart: string) =>
  (await page.locator(`#plot-${chart} path.line`).first().getAttribute("d").catch(() => null)) ?? "";

interface TunnelRow {
  id: string;
  client: string;
  route: string;
}

async function openTunnels(gw: Gateway): Promise<TunnelRow[]> {
  const answer = await gw.admin("GET", "/tunnels.json");
  assert.equal(answer.status, 200);
  return (JSON.parse(text(answer.body)) as { tunnels: TunnelRow[] }).tunnels;
}

Deno.test("status page: live charts, the table of open tunnels, and a row's Close button", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: statusConfig(backend.address),
    env: { WSGATE_HISTORY_INTERVAL: "250ms" },
  });
  const raw = await Promise.all(["/raw/feed", "/raw/sync"].map((path) => RawWs.open(gw.port, { path })));
  const tracked: WsClient[] = await Promise.all(
    ["/tracked/chat", "/tracked/game"].map((path) => openNodeWs(`ws://127.0.0.1:${gw.port}${path}`)),
  );
  const traffic = new VariedTraffic(gw.port, [...raw.map(viaRawWs), ...tracked.map(viaWsClient)]);
  const screenshots = Deno.env.get("WSGATE_SCREENSHOTS");
  await using chromium = await launchBrowser();
  try {
    const page = await chromium.browser.newPage();
    assert.equal((await page.goto(`http://127.0.0.1:${gw.adminPort}/status`))?.status(), 200);

    // The charts draw once there are two samples, and change with the next ones.
    await eventually(async () => (await lineOf(page, "bytes")).includes("L"), 10_000, "a bytes line");
    const drawn = await lineOf(page, "bytes");
    await eventually(async () => await lineOf(page, "bytes") !== drawn, 10_000, "the bytes chart redrawn");
    assert.equal(await page.locator("#plot-bytes path.line").count(), 2, "up and down");

    if (screenshots) {
      // Long enough for the charts to show the traffic's waves and a few refusals.
      await new Promise((resolve) => setTimeout(resolve, 25_000));
      await page.screenshot({ path: `${screenshots}/status.png`, fullPage: true });
      // The tunnel section with the page's margin around it.
      const box = (await page.locator("#tunnel-section").boundingBox())!;
      const clip = { x: box.x - 20, y: box.y - 4, width: box.width + 40, height: box.height + 24 };
      await page.screenshot({ path: `${screenshots}/status-tunnels.png`, clip, fullPage: true });
    }
    await traffic.stop();

    // Once the extra tunnels are gone: the newest sample counts 4, the table shows /tunnels.json's.
    const legend = () => page.locator("#legend-tunnels").textContent();
    await eventually(async () => /open\s*4$/.test(await legend() ?? ""), 10_000, "4 open tunnels charted");
    const rows = page.locator("#tunnels tbody tr");
    await eventually(async () => await rows.count() === 4, 10_000, "four rows");
    const listed = await openTunnels(gw);
    const shown = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-id")));
    assert.deepEqual(shown, listed.map((t) => t.id), "same tunnels, oldest first");

    // Close on a raw tunnel's row: that connection closes, the row goes, the others stay.
    const address = (client: RawWs) => `127.0.0.1:${(client.conn.localAddr as Deno.NetAddr).port}`;
    const victim = listed.find((t) => t.client === address(raw[0]!))!;
    await page.locator(`#tunnels tr[data-id="${victim.id}"]`).getByRole("button", { name: "Close" }).click();
    assert.equal(await raw[0]!.next(), null, "TCP close");
    await page.locator(`#tunnels tr[data-id="${victim.id}"]`).waitFor({ state: "detached", timeout: 10_000 });
    assert.equal(await rows.count(), 3);
    assert.deepEqual(
      (await openTunnels(gw)).map((t) => t.id),
      listed.filter((t) => t !== victim).map((t) => t.id),
    );
    const logged = await gw.waitForEvent("tunnel_closed_by_admin", { id: victim.id });
    assert.match(logged.fields.admin ?? "", /^127\.0\.0\.1:\d+$/);

    // And on a tracked tunnel's row: its client gets Close 1008.
    const trackedRow = listed.find((t) => t.route === "/tracked/")!;
    await page.locator(`#tunnels tr[data-id="${trackedRow.id}"]`).getByRole("button", { name: "Close" })
      .click();
    const closes = await Promise.race(tracked.map((client) => client.closed));
    assert.equal(closes.code, 1008);
    await eventually(async () => await rows.count() === 2, 10_000, "two rows left");
    assert.equal(await page.locator("#error").isVisible(), false, "no error banner");
  } finally {
    await traffic.stop().catch(() => {});
    for (const client of [...raw, ...tracked]) await client[Symbol.asyncDispose]();
  }
});
