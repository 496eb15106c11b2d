/**
 * DESIGN §4, the client side, where a head's spelling is the whole question: a header split over
 * two lines against the scripted upstream (see _contract_wire.ts), a missing version. The valid
 * spellings and every refusal of an upgrade are in handshake_test.ts, malformed heads in
 * smuggling_test.ts, head size and time limits in limits_test.ts.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { ask, head, upgrade, upgradeLines } from "./_contract.ts";
import { all, pathOf, wireGateway } from "./_contract_wire.ts";
import { startGateway } from "./_harness.ts";

Deno.test("contract §4: Sec-WebSocket-Protocol over two lines reaches the upstream as sent", async () => {
  await using wire = await wireGateway();
  const { gw, raw } = wire;
  await using c = await RawWs.open(gw.port, {
    request: upgrade("/ws/proto2", "Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b, c"),
  });
  assert.equal(c.response.status, 101);
  const seen = raw.heads.find((h) => pathOf(h) === "/ws/proto2")!;
  assert.deepEqual(all(seen, "sec-websocket-protocol").join(", "), "a, b, c");
});

Deno.test("Sec-WebSocket-Version missing: 400, or 426 with Sec-WebSocket-Version: 13", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  const res = await ask(gw.port, head("GET / HTTP/1.1", ...upgradeLines().slice(0, 4)));
  assert.ok(
    res.status === 400 || (res.status === 426 && res.headers.get("sec-websocket-version") === "13"),
    res.head,
  );
});
