/** TLS on both sides: wss:// clients to a TLS listener, and wss:// upstreams verified with a CA. */
import assert from "node:assert/strict";
import { denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { openDenoWs, openNodeWs, RawWs } from "./_clients.ts";
import { CA_PEM, CERTS, oneRouteConfig, startGateway, toYaml } from "./_harness.ts";
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
