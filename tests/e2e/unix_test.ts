/** Unix sockets on both sides: `--listen unix:/path` and `--upstream unix:/path`. */
import assert from "node:assert/strict";
import { denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { openDenoWs, RawWs } from "./_clients.ts";
import { startGateway, tempDir } from "./_harness.ts";
import { text } from "./_wire.ts";

Deno.test("unix: a unix-socket listener takes a raw handshake and tunnels", async () => {
  await using tmp = await tempDir();
  await using backend = await wsEchoBackend();
  const path = `${tmp.path}/gw.sock`;
  await using gw = await startGateway({ args: ["--listen", `unix:${path}`, "--upstream", backend.address] });
  assert.deepEqual(gw.addrs, [`unix:${path}`]);
  assert.deepEqual(gw.transports, ["unix"]);
  await using client = await RawWs.open({ path }, { path: "/over-unix" });
  assert.equal(client.response.status, 101);
  await client.sendText("through a unix socket");
  assert.equal(text((await client.next())!.payload), "through a unix socket");
  assert.equal(backend.requests.at(-1)!.url, "/over-unix");
});

Deno.test("unix: a unix-socket upstream", async () => {
  await using tmp = await tempDir();
  await using backend = await denoEchoBackend({ path: `${tmp.path}/backend.sock` });
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/to-unix`);
  client.send("to a unix backend");
  assert.equal(await client.next(), "to a unix backend");
  assert.equal(backend.requests.at(-1)!.url, "/to-unix");
});
