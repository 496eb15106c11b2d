/** TLS on both sides: wss:// clients to a TLS listener, and wss:// upstreams verified with a CA. */
import assert from "node:assert/strict";
import { denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { openDenoWs, openNodeWs, RawWs } from "./_clients.ts";
import { CA_PEM, CERTS, eventually, keepAliveOn, oneRouteConfig, startGateway, toYaml } from "./_harness.ts";
import { LISTENERS, tlsGateway } from "./_tls.ts";
import { exchange, fdCount, fdsBackTo } from "./_security.ts";
import { parseResponse, rawRequest, text, upgradeRequest } from "./_wire.ts";

const read = (name: string) => Deno.readTextFileSync(`${CERTS}${name}`);

Deno.test("tls: wss:// clients reach a listener started with --tls-cert/--tls-key", async (t) => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: [
      "--listen",
      "127.0.0.1:0",
      "--tls-cert",
      `${CERTS}localhost.pem`,
      "--tls-key",
      `${CERTS}localhost-key.pem`,
      "--upstream",
      backend.address,
    ],
  });
  assert.deepEqual(gw.transports, ["tls"]);

  await t.step("Deno client to wss://localhost", async () => {
    await using client = await openDenoWs(`wss://localhost:${gw.port}/secure`, { caCerts: [CA_PEM] });
    client.send("over tls");
    assert.equal(await client.next(), "over tls");
    assert.equal(backend.requests.at(-1)!.headers.get("x-forwarded-proto"), "https");
  });

  await t.step("ws client to wss://127.0.0.1", async () => {
    await using client = await openNodeWs(`wss://127.0.0.1:${gw.port}/secure`, { ca: CA_PEM });
    client.send(new Uint8Array([1, 2, 3]));
    assert.deepEqual(await client.next(), new Uint8Array([1, 2, 3]));
  });

  await t.step("raw TLS client", async () => {
    await using client = await RawWs.open({ port: gw.port, tls: { caCerts: [CA_PEM] } }, { path: "/raw" });
    assert.equal(client.response.status, 101);
    await client.sendText("raw over tls");
    assert.equal(text((await client.next())!.payload), "raw over tls");
  });
});

Deno.test("tls: config tls: {cert, key} with paths relative to the config file", async () => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({
    files: { "cert.pem": read("localhost.pem"), "key.pem": read("localhost-key.pem") },
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        tls: { cert: "cert.pem", key: "key.pem" },
        routes: [{ path: "/", upstream: "app" }],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  });
  assert.deepEqual(gw.transports, ["tls"]);
  await using client = await openDenoWs(`wss://localhost:${gw.port}/from-config`, { caCerts: [CA_PEM] });
  client.send("configured tls");
  assert.equal(await client.next(), "configured tls");
});

Deno.test("tls: a wss:// upstream is verified with upstreams.x.tls {ca, server_name}", async (t) => {
  await using backend = await denoEchoBackend({
    tls: { cert: read("backend.pem"), key: read("backend-key.pem") },
  });
  const wss = `wss://${backend.address}`;

  await t.step("with the test CA: the tunnel works", async () => {
    await using gw = await startGateway({
      files: { "ca.pem": CA_PEM },
      config: oneRouteConfig([wss], { upstream: { tls: { ca: "ca.pem", server_name: "backend.test" } } }),
    });
    await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/to-tls-backend`);
    client.send("re-encrypted");
    assert.equal(await client.next(), "re-encrypted");
    assert.equal(backend.requests.at(-1)!.url, "/to-tls-backend");
  });

  await t.step("without the CA: 502", async () => {
    const before = backend.requests.length;
    await using gw = await startGateway({
      config: oneRouteConfig([wss], { upstream: { tls: { server_name: "backend.test" } } }),
    });
    const response = parseResponse(await rawRequest(gw.port, upgradeRequest()));
    assert.equal(response.status, 502);
    assert.equal(backend.requests.length, before, "no request reached the backend");
  });

  await t.step("with the CA but the wrong server_name: 502", async () => {
    await using gw = await startGateway({
      files: { "ca.pem": CA_PEM },
      config: oneRouteConfig([wss], { upstream: { tls: { ca: "ca.pem", server_name: "other.test" } } }),
    });
    const response = parseResponse(await rawRequest(gw.port, upgradeRequest()));
    assert.equal(response.status, 502);
  });
});

// ---- TLS listeners under attack, and one cipher policy on every runtime ----

/** The first half of a real ClientHello (captured from a Deno TLS client): a handshake that stalls. */
async function halfClientHello(): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = Deno.connectTls({ hostname: "127.0.0.1", port: listener.addr.port, caCerts: [CA_PEM] });
  const server = await listener.accept();
  const buf = new Uint8Array(4096);
  const n = (await server.read(buf)) ?? 0;
  server.close();
  listener.close();
  await client.then((c) => c.close(), () => {});
  assert.equal(buf[0], 0x16, "a TLS handshake record");
  return buf.slice(0, Math.floor(n / 2));
}

/** Connections that stall the TLS handshake: `silent` send nothing, the others half a ClientHello.
 * Resolves with how each ended (closed = EOF or reset from the gateway) within 5 s. */
async function stalledHandshakes(port: number, silent: number, half: number) {
  const hello = await halfClientHello();
  const all = [
    ...Array.from({ length: silent }, () => exchange(port, "", { timeoutMs: 5_000 })),
    ...Array.from({ length: half }, () => exchange(port, hello, { timeoutMs: 5_000 })),
  ];
  return await Promise.all(all);
}

for (const [kind, tls] of Object.entries(LISTENERS)) {
  Deno.test(`tls (${kind}): a TLS handshake not done within handshake_timeout is closed and frees its slot`, async (t) => {
    await using backend = await wsEchoBackend();
    await using gw = await tlsGateway(tls, backend.address, { max_connections: 4, handshake_timeout: "1s" });
    const client = async () => {
      await using ws = await RawWs.open({ port: gw.port, tls: { caCerts: [CA_PEM] } }, { path: "/after" });
      return ws.response.status;
    };

    await t.step("4 silent + 4 half-ClientHello sockets are closed; a good client gets its 101", async () => {
      const started = Date.now();
      const ends = await stalledHandshakes(gw.port, 4, 4);
      assert.deepEqual(ends.map((e) => e.closed), Array(8).fill(true), "every stalled socket closed");
      assert.deepEqual(ends.map((e) => e.raw.length), Array(8).fill(0), "nothing written to them (no 408)");
      await new Promise((r) => setTimeout(r, Math.max(0, 1_500 - (Date.now() - started))));
      assert.equal(await client(), 101);
    });

    await t.step("200 silent sockets: descriptors back near the baseline once they time out", async () => {
      const baseline = fdCount(gw.pid);
      const ends = stalledHandshakes(gw.port, 200, 0);
      await eventually(() => fdCount(gw.pid) >= baseline + 100, 3_000, "the gateway accepted them");
      assert.ok((await ends).every((e) => e.closed), "every silent socket closed");
      await fdsBackTo(gw, baseline + 5);
      assert.equal(await client(), 101);
    });
  });
}

/** What `openssl s_client` offers: one TLS 1.2 suite, or only a protocol version. */
const OFFERS: Record<string, string[]> = {
  "AES128-SHA": ["-tls1_2", "-cipher", "AES128-SHA"],
  "AES256-SHA": ["-tls1_2", "-cipher", "AES256-SHA"],
  "AES128-GCM-SHA256": ["-tls1_2", "-cipher", "AES128-GCM-SHA256"],
  "AES256-GCM-SHA384": ["-tls1_2", "-cipher", "AES256-GCM-SHA384"],
  "ECDHE-RSA-AES128-SHA": ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"],
  "ECDHE-RSA-AES256-SHA384": ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA384"],
  "ECDHE-RSA-AES128-GCM-SHA256": ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
  "ECDHE-RSA-AES256-GCM-SHA384": ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"],
  "ECDHE-RSA-CHACHA20-POLY1305": ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"],
  "TLS 1.3": ["-tls1_3"],
  "TLS 1.1": ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
};

/** TLS 1.2 only with ECDHE and an AEAD cipher, and TLS 1.3: what rustls allows, on every runtime. */
const POLICY: Record<string, boolean> = {
  "AES128-SHA": false,
  "AES256-SHA": false,
  "AES128-GCM-SHA256": false,
  "AES256-GCM-SHA384": false,
  "ECDHE-RSA-AES128-SHA": false,
  "ECDHE-RSA-AES256-SHA384": false,
  "ECDHE-RSA-AES128-GCM-SHA256": true,
  "ECDHE-RSA-AES256-GCM-SHA384": true,
  "ECDHE-RSA-CHACHA20-POLY1305": true,
  "TLS 1.3": true,
  "TLS 1.1": false,
};

/** Whether the gateway completes a handshake with `openssl s_client` offering only `offer`. */
async function accepts(port: number, serverName: string, offer: string[]): Promise<boolean> {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", serverName, ...offer],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
  const agreed = /New, \S+, Cipher is (\S+)/.exec(text(out.stdout))?.[1];
  return agreed !== undefined && agreed !== "(NONE)";
}

for (const [kind, tls] of Object.entries(LISTENERS)) {
  Deno.test(`tls (${kind}): TLS 1.3, or TLS 1.2 with ECDHE and AEAD only; nothing older`, async () => {
    await using backend = await wsEchoBackend();
    await using gw = await tlsGateway(tls, backend.address);
    // With SNI, a certificate chosen by name must carry the same policy as the default one.
    for (const name of Array.isArray(tls) ? ["localhost", "backend.test"] : ["localhost"]) {
      const seen = Object.fromEntries(
        await Promise.all(
          Object.entries(OFFERS).map(async ([offer, args]) => [offer, await accepts(gw.port, name, args)]),
        ),
      );
      assert.deepEqual(seen, POLICY, `served as ${name}`);
    }
  });
}

for (const [kind, tls] of Object.entries(LISTENERS)) {
  Deno.test(`tls (${kind}): a wss:// client's socket keeps TCP keep-alive on, like a plain one`, async () => {
    await using backend = await wsEchoBackend();
    await using gw = await tlsGateway(tls, backend.address);
    await using ws = await RawWs.open({ port: gw.port, tls: { caCerts: [CA_PEM] } }, { path: "/keepalive" });
    assert.equal(ws.response.status, 101);
    await keepAliveOn(`sport = :${gw.port}`);
  });
}
