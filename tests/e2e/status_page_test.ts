/**
 * The live status page in a real headless Chromium (Debian's, installed by .ci/run), driven by
 * npm playwright-core. Set WSGATE_STATUS_PNG=docs/status.png to keep the screenshot.
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs } from "./_clients.ts";
import { oneRouteConfig, startGateway, tempDir } from "./_harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

Deno.test("status page: a headless browser shows live tunnels, listeners and upstream servers", async () => {
  await Deno.stat(CHROMIUM).catch(() => {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  });
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([a.address, b.address], { top: { admin: { listen: "127.0.0.1:0" } } }),
  });
  const clients = await Promise.all([0, 1, 2].map((i) => openNodeWs(`ws://127.0.0.1:${gw.port}/page${i}`)));
  await using tmp = await tempDir();
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
  try {
    for (const [i, client] of clients.entries()) {
      client.send(`message ${i}`);
      assert.equal(await client.next(), `message ${i}`);
    }
    const page = await browser.newPage();
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
  } finally {
    await browser.close();
    await Promise.all(clients.map((client) => client[Symbol.asyncDispose]()));
  }
});
