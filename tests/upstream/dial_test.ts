/** dialUpstream() against real sockets: a connection, a refusal, a connect that hangs until
 * connect_timeout, and an abandoned dial. */
import assert from "node:assert/strict";
import { dialUpstream } from "../../lib/upstream/dial.ts";
import { runtime } from "../../lib/runtime/deno.ts";
import { UpstreamError } from "../../lib/errors.ts";
import { groupConfig } from "./_upstreams.ts";
import { blackhole } from "../e2e/_backends.ts";

function group(address: string, connectTimeout = "300ms") {
  const config = groupConfig([address], { connect_timeout: connectTimeout });
  return { config, server: config.servers[0]! };
}

Deno.test("dialUpstream: a listening server gives a connection", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { config, server } = group(`127.0.0.1:${listener.addr.port}`);
  const conn = await dialUpstream(runtime, server, config);
  const accepted = await listener.accept();
  await conn.write(new TextEncoder().encode("hi"));
  const buffer = new Uint8Array(2);
  assert.equal(await accepted.read(buffer), 2);
  conn.close();
  accepted.close();
});

Deno.test("dialUpstream: a refused connection fails at once as a retryable connect failure", async () => {
  const { config, server } = group("127.0.0.1:1");
  const err = await dialUpstream(runtime, server, config).catch((e) => e);
  assert.ok(err instanceof UpstreamError);
  assert.deepEqual([err.phase, err.timedOut, err.retryable], ["connect", false, true]);
});

Deno.test("dialUpstream: a connect that hangs fails at connect_timeout, as timed out", async () => {
  await using target = await blackhole();
  const { config, server } = group(target.address, "300ms");
  const started = performance.now();
  const err = await dialUpstream(runtime, server, config).catch((e) => e);
  const ms = performance.now() - started;
  assert.ok(err instanceof UpstreamError, String(err));
  assert.deepEqual([err.phase, err.timedOut], ["connect", true]);
  assert.match(err.message, /no connection within 300 ms/);
  assert.ok(ms >= 290 && ms < 3_000, `failed after ${ms.toFixed(0)} ms`);
});

Deno.test("dialUpstream: an aborted signal abandons a hanging dial before its timeout", async () => {
  await using target = await blackhole();
  const { config, server } = group(target.address, "10s");
  const cancel = new AbortController();
  setTimeout(() => cancel.abort(), 100);
  const started = performance.now();
  const err = await dialUpstream(runtime, server, config, { signal: cancel.signal }).catch((e) => e);
  assert.ok(err instanceof UpstreamError, String(err));
  assert.equal(err.phase, "connect");
  assert.ok(performance.now() - started < 5_000);
});

Deno.test("dialUpstream: a TLS handshake that never completes is abandoned at connect_timeout, its socket closed", async () => {
  // A backend that accepts TCP and never says a word of TLS (a tarpit, a stuck terminator): the
  // dial fails at connect_timeout, and the connection must not stay open behind it (health
  // checks dial every interval: one socket kept per probe would run the gateway out of them).
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { config, server } = group(`wss://127.0.0.1:${listener.addr.port}`, "300ms");
  const failed = dialUpstream(runtime, server, config).catch((e) => e);
  using accepted = await listener.accept();
  const err = await failed;
  assert.ok(err instanceof UpstreamError, String(err));
  assert.equal(err.timedOut, true, err.message);
  // The gateway's ClientHello, then its close: EOF, or a reset.
  const buffer = new Uint8Array(4096);
  const closed = (async () => {
    while (await accepted.read(buffer).catch(() => null) !== null);
    return "closed";
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stillOpen = new Promise((resolve) =>
    timer = setTimeout(() => resolve("still open after 5 s"), 5_000)
  );
  try {
    assert.equal(await Promise.race([closed, stillOpen]), "closed");
  } finally {
    clearTimeout(timer);
  }
});
