/**
 * DESIGN §3e: log output escapes every control character (C0, DEL, C1) and U+2028/U+2029 in both
 * formats. A client controls header bytes that end up in log records (a refused Origin is quoted
 * in the reject reason); raw, 0x85 (NEL) splits the record for many log readers and 0x9B (CSI)
 * drives the terminal of whoever tails the log.
 */
import assert from "node:assert/strict";
import { denoEchoBackend } from "./_backends.ts";
import { startGateway, toYaml } from "./_harness.ts";
import { upgradeRequest } from "./_wire.ts";
import { exchange } from "./_security.ts";

// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffd]/;

/** One byte per char: the Origin's bytes go out exactly as spelt, 0x80-0xFF included. */
const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

// NEL and CSI as single bytes, then U+2028 as UTF-8 (E2 80 A8), which the gateway reads as three chars.
const ORIGIN = "https://a\x85b\x9b31mc\xe2\x80\xa8d.test";

for (const format of ["text", "json"]) {
  Deno.test(`log escaping (${format}): a refused Origin with C1 bytes stays one escaped record`, async () => {
    await using backend = await denoEchoBackend();
    await using gw = await startGateway({
      config: toYaml({
        servers: [{
          listen: ["127.0.0.1:0"],
          routes: [{ path: "/", upstream: "app", allow_origins: ["https://app.test"] }],
        }],
        upstreams: { app: { servers: [backend.address] } },
        log: { format },
      }),
    });
    const request = upgradeRequest({ path: "/ws", headers: [["Origin", ORIGIN]] });
    const outcome = await exchange(gw.port, latin1(request), { untilHead: true });
    assert.equal(outcome.response?.status, 403);
    const record = await gw.waitForEvent("reject", { status: "403" });
    // The decoded stdout (valid UTF-8: no U+FFFD) holds none of those code points, so neither do its bytes.
    for (const line of gw.lines) assert.doesNotMatch(line, UNSAFE, line);
    assert.ok(
      record.fields.reason?.includes(JSON.stringify(ORIGIN)),
      `the record parses back to the Origin as received: ${record.fields.reason}`,
    );
  });
}
