/** Messages through the real gateway with real clients and backends: echo, size, order, negotiation, close. */
import assert from "node:assert/strict";
import { type Backend, denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { type Message, openDenoWs, openNodeWs, RawWs, type WsClient } from "./_clients.ts";
import { eventually, startGateway } from "./_harness.ts";
import { closePayload, Opcode, parseClose, randomBytes, sha256 } from "./_wire.ts";

const BACKENDS: Record<string, () => Promise<Backend>> = { ws: wsEchoBackend, deno: denoEchoBackend };
const CLIENTS: Record<string, (url: string) => Promise<WsClient>> = {
  deno: (url) => openDenoWs(url),
  ws: (url) => openNodeWs(url),
};

const adHoc = (backend: Backend) => ({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });

const MESSAGES: { name: string; message: Message }[] = [
  { name: "ascii text", message: "hello" },
  { name: "utf-8 text", message: "héllo ☃ 🚀" },
  { name: "empty text", message: "" },
  { name: "binary, every byte value", message: Uint8Array.from({ length: 256 }, (_, i) => i) },
  { name: "binary, 70 000 bytes (64-bit length)", message: randomBytes(70_000) },
];

for (const [backendName, makeBackend] of Object.entries(BACKENDS)) {
  Deno.test(`echo: text and binary through both clients to the ${backendName} backend`, async (t) => {
    await using backend = await makeBackend();
    await using gw = await startGateway(adHoc(backend));
    for (const [clientName, open] of Object.entries(CLIENTS)) {
      await t.step(`${clientName} client`, async () => {
        await using client = await open(`ws://127.0.0.1:${gw.port}/echo`);
        for (const { name, message } of MESSAGES) {
          client.send(message);
          assert.deepEqual(await client.next(), message, name);
        }
      });
    }
  });
}

Deno.test("echo: a 16 MiB binary message arrives intact", async (t) => {
  const big = randomBytes(16 * 1024 * 1024);
  for (const [backendName, makeBackend] of Object.entries(BACKENDS)) {
    await t.step(`${backendName} backend`, async () => {
      await using backend = await makeBackend();
      await using gw = await startGateway(adHoc(backend));
      await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/big`);
      client.send(big);
      const back = await client.next(20_000);
      assert.ok(back instanceof Uint8Array);
      assert.equal(back.length, big.length);
      assert.equal(sha256(back), sha256(big));
    });
  }
});

Deno.test("echo: 1,000 messages arrive in order", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway(adHoc(backend));
  await using client = await openNodeWs(`ws://127.0.0.1:${gw.port}/order`);
  const sent = Array.from({ length: 1_000 }, (_, i) => `message ${i}`);
  for (const m of sent) client.send(m);
  const received: Message[] = [];
  for (let i = 0; i < sent.length; i++) received.push(await client.next());
  assert.deepEqual(received, sent);
});

Deno.test("echo: subprotocol and permessage-deflate are negotiated end to end", async (t) => {
  await using backend = await wsEchoBackend({
    perMessageDeflate: true,
    handleProtocols: (offered) => offered.includes("chat.v2") ? "chat.v2" : false,
  });
  await using gw = await startGateway(adHoc(backend));
  const url = `ws://127.0.0.1:${gw.port}/negotiate`;
  const compressible = "all work and no play ".repeat(5_000);

  await t.step("ws client: the backend's protocol and extension reach the client", async () => {
    await using client = await openNodeWs(url, {
      protocols: ["chat.v1", "chat.v2"],
      perMessageDeflate: true,
    });
    assert.equal(client.protocol, "chat.v2");
    assert.match(client.extensions, /^permessage-deflate\b/);
    const seen = backend.requests.at(-1)!.headers;
    assert.equal(seen.get("sec-websocket-protocol"), "chat.v1,chat.v2"); // as npm ws writes it
    assert.equal(seen.get("sec-websocket-extensions"), "permessage-deflate; client_max_window_bits");
    client.send(compressible);
    assert.equal(await client.next(), compressible);
  });

  await t.step("Deno client: the backend's protocol reaches the client", async () => {
    await using client = await openDenoWs(url, { protocols: ["chat.v1", "chat.v2"] });
    assert.equal(client.protocol, "chat.v2");
    client.send("after negotiation");
    assert.equal(await client.next(), "after negotiation");
  });
});

const CLOSE_CASES = [
  { name: "Deno client, ws backend", open: CLIENTS.deno!, makeBackend: BACKENDS.ws! },
  { name: "ws client, Deno backend", open: CLIENTS.ws!, makeBackend: BACKENDS.deno! },
];

for (const { name, open, makeBackend } of CLOSE_CASES) {
  Deno.test(`echo: close code and reason propagate both ways (${name})`, async (t) => {
    await using backend = await makeBackend();
    await using gw = await startGateway(adHoc(backend));
    const url = `ws://127.0.0.1:${gw.port}/close`;

    await t.step("client closes 4001 bye -> the backend sees 4001 bye", async () => {
      await using client = await open(url);
      client.close(4001, "bye");
      assert.deepEqual(await client.closed, { code: 4001, reason: "bye" });
      await eventually(() => backend.closes.length === 1, 3_000, "backend saw the close");
      assert.deepEqual(backend.closes[0], { code: 4001, reason: "bye" });
    });

    await t.step("backend closes 4002 later -> the client sees 4002 later", async () => {
      await using client = await open(url);
      client.send("close:4002:later");
      assert.deepEqual(await client.closed, { code: 4002, reason: "later" });
    });

    await t.step(
      "raw close frame 4003 raw -> the backend's close frame answers it byte for byte",
      async () => {
        await using client = await RawWs.open(gw.port, { path: "/close-raw" });
        await client.send(Opcode.close, closePayload(4003, "raw"));
        const frame = await client.next();
        assert.equal(frame?.opcode, Opcode.close);
        assert.deepEqual(parseClose(frame.payload), { code: 4003, reason: "raw" });
        assert.equal(await client.next(), null, "then the backend closes the connection");
        await client.closeWrite(); // and so does the client, which completes the TCP close for the backend
        await eventually(() => backend.closes.some((c) => c.code === 4003), 3_000, "backend saw the close");
        assert.deepEqual(backend.closes.at(-1), { code: 4003, reason: "raw" });
      },
    );
  });
}
