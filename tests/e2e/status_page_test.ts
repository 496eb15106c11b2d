/**
 * The live status page in a real headless Chromium (Debian's, installed by .ci/run), driven by
 * npm playwright-core. Set WSGATE_STATUS_PNG=docs/status.png to keep the screenshot. The page's
 * own Drain/Undrain POSTs carry the browser's Origin and Sec-Fetch-Site, so these tests also show
 * that the admin's CSRF guard lets the page itself through.
 */
import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs } from "./_clients.ts";
import { type Gateway, oneRouteConfig, startGateway, tempDir } from "./_harness.ts";
import { parseResponse, rawRequest, text } from "./_wire.ts";

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
    const keep = Deno.env.get("WSGATE_STATUS_PNG");
    if (keep) await Deno.copyFile(screenshot, keep);

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
