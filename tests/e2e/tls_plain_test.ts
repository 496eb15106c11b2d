/**
 * Plain HTTP sent to a TLS port. Bun (BoringSSL) stops at it without an alert and the gateway
 * answers a plain-text 400, as nginx does; Deno's rustls has already answered with a TLS alert and
 * closed (docs/runtime.md §2.3). Either way the refusal is logged as a 400 reject, and TLS clients,
 * stalled handshakes and handshake_timeout are as before.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openNodeWs, RawWs } from "./_clients.ts";
import { CA_PEM, eventually, type Gateway, type LogRecord } from "./_harness.ts";
import { exchange, fdCount, fdsBackTo } from "./_security.ts";
import { text } from "./_wire.ts";
import { LISTENERS, tlsGateway } from "./_tls.ts";

const ON_BUN = Deno.env.has("WSGATE_BIN");

const BODY = "400 Bad Request: the plain HTTP request was sent to an HTTPS port (use https:// or wss://)\n";
const ANSWER = "HTTP/1.1 400 Bad Request\r\n" +
  "Content-Type: text/plain; charset=utf-8\r\n" +
  `Content-Length: ${BODY.length}\r\n` +
  "Connection: close\r\n\r\n" + BODY;

/** rustls's fatal decode_error alert (TLS 1.2 record). */
const DECODE_ERROR_ALERT = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32];

/** The next reject record logged after `before` of them; the only one. */
async function nextReject(gw: Gateway, before: number): Promise<LogRecord> {
  await eventually(() => gw.records("reject").length > before, 5_000, "a reject record");
  const rejects = gw.records("reject");
  assert.equal(rejects.length, before + 1);
  return rejects[before]!;
}

/** Sends `request` in plain text; checks the answer, the close and the reject record. */
async function plainRequest(gw: Gateway, request: string, hostname = "127.0.0.1"): Promise<void> {
  const before = gw.records("reject").length;
  const out = await exchange(gw.port, request, { timeoutMs: 5_000, hostname });
  assert.ok(out.closed, "the gateway closed the connection");
  if (ON_BUN) assert.equal(text(out.raw), ANSWER);
  else assert.deepEqual([...out.raw], DECODE_ERROR_ALERT);
  const reject = await nextReject(gw, before);
  assert.equal(reject.fields.status, "400");
  assert.match(
    reject.fields.reason!,
    ON_BUN ? /^plain HTTP request on a TLS port$/ : /^not TLS on a TLS port/,
  );
  const access = await gw.waitForEvent("access", { id: reject.fields.id! });
  assert.equal(access.fields.status, "400");
  assert.equal(access.fields.closed_by, "proxy");
}

for (const [kind, tls] of Object.entries(LISTENERS)) {
  Deno.test(`tls plain (${kind}): plain HTTP gets a 400 (Bun) or an alert (Deno), logged as a 400 reject; TLS clients unaffected`, async (t) => {
    await using backend = await wsEchoBackend();
    await using gw = await tlsGateway(tls, backend.address, { handshake_timeout: "1s" });

    await t.step("GET in plain text", async () => {
      await plainRequest(gw, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(gw.records("reject").length, 1);
      assert.equal(backend.requests.length, 0, "nothing reached the backend");
    });

    await t.step("a WebSocket upgrade in plain text", async () => {
      const upgrade = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
      await plainRequest(gw, upgrade);
    });

    await t.step("POST with a body in plain text", async () => {
      await plainRequest(gw, "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    });

    await t.step("100 plain HTTP clients at once: each answered and closed, descriptors back", async () => {
      const baseline = fdCount(gw.pid);
      const before = gw.records("reject").length;
      const outs = await Promise.all(
        Array.from({ length: 100 }, (_, i) => exchange(gw.port, `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`)),
      );
      for (const out of outs) {
        assert.ok(out.closed);
        if (ON_BUN) assert.equal(text(out.raw), ANSWER);
        else assert.deepEqual([...out.raw], DECODE_ERROR_ALERT);
      }
      await eventually(() => gw.records("reject").length === before + 100, 5_000, "100 reject records");
      await fdsBackTo(gw, baseline + 2);
    });

    await t.step("right after: a Deno TLS client gets its 101 and echo", async () => {
      await using client = await RawWs.open({ port: gw.port, tls: { caCerts: [CA_PEM] } }, {
        path: "/after",
      });
      assert.equal(client.response.status, 101);
      await client.sendText("still tls");
      assert.equal(text((await client.next())!.payload), "still tls");
    });

    await t.step("right after: a node:tls client (ws) gets its 101 and echo", async () => {
      await using client = await openNodeWs(`wss://localhost:${gw.port}/node`, { ca: CA_PEM });
      client.send(new Uint8Array([7, 8, 9]));
      assert.deepEqual(await client.next(), new Uint8Array([7, 8, 9]));
    });

    await t.step("a silent client is closed at handshake_timeout, with nothing written", async () => {
      const before = gw.records("reject").length;
      const started = Date.now();
      const out = await exchange(gw.port, "", { timeoutMs: 5_000 });
      assert.ok(out.closed);
      assert.equal(out.raw.length, 0);
      assert.ok(Date.now() - started >= 900, "not before handshake_timeout (1 s)");
      assert.equal((await nextReject(gw, before)).fields.status, "408");
    });

    await t.step("one byte 0x16 (a TLS record begins) and a stall: closed at handshake_timeout", async () => {
      const before = gw.records("reject").length;
      const started = Date.now();
      const out = await exchange(gw.port, new Uint8Array([0x16]), { timeoutMs: 5_000 });
      assert.ok(out.closed);
      assert.equal(out.raw.length, 0);
      // Deno's SNI listener (rustls Acceptor) fails a handshake at once when its first record
      // arrives in pieces ("operation would block"): closed, but not by the timeout.
      if (ON_BUN || kind === "one certificate") {
        assert.ok(Date.now() - started >= 900, "not before handshake_timeout (1 s)");
        assert.equal((await nextReject(gw, before)).fields.status, "408");
      }
    });
  });
}

Deno.test("tls plain: over IPv6 too (the descriptor check compares IPv6 addresses)", async () => {
  await using backend = await wsEchoBackend();
  for (const tls of Object.values(LISTENERS)) {
    await using gw = await tlsGateway(tls, backend.address, {}, "[::1]:0");
    await plainRequest(gw, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "::1");
  }
});
