/**
 * End-to-end fuzz: 5,000 malformed, mutated or truncated heads sent to the running gateway, each
 * on its own connection, ended with a FIN or an abrupt reset. Each must get a 4xx or a close and
 * nothing else; afterwards the process is up, a good client gets its tunnel, and the gateway's
 * open file descriptors are back to where they were. Seeded like the parser fuzz (FUZZ_SEED).
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { startGateway, toYaml } from "./_harness.ts";
import { text, writeThenReset } from "./_wire.ts";
import { exchange, fdCount, fdsBackTo } from "./_security.ts";
import { chance, generate } from "../http/_fuzz_heads.ts";
import { prng } from "../_prng.ts";

const CASES = 5_000;
const CONCURRENCY = 50;

type Result = "4xx" | "closed" | "reset";

Deno.test(`fuzz e2e: ${CASES} malformed or truncated heads each get a 4xx or a close`, async () => {
  await using backend = await wsEchoBackend();
  // Generated heads never ask for /only/, so even a valid one is answered 404, never proxied.
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/only/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
      limits: { handshake_timeout: "2s", max_connections_per_ip: 10_000 },
    }),
  });
  // Warm up, so lazily opened descriptors are in the baseline.
  {
    await using ws = await RawWs.open(gw.port, { path: "/only/x" });
    assert.equal(ws.response.status, 101);
  }
  await exchange(gw.port, "GET / HTTP/1.1\r\n\r\n");
  await new Promise((r) => setTimeout(r, 200));
  const baseline = fdCount(gw.pid);

  const seed = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
  const counts: Record<Result, number> = { "4xx": 0, closed: 0, reset: 0 };
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < CASES; i = next++) {
      const random = prng(Math.imul(seed ^ 0x51ed270b, 0x85ebca6b) + i);
      let input = generate(random, false);
      // A third are cut short, as if the client gave up halfway.
      if (chance(random, 0.33)) input = input.subarray(0, Math.floor(random() * input.length));
      if (chance(random, 0.1)) {
        await writeThenReset(gw.port, input);
        counts.reset++;
        continue;
      }
      const outcome = await exchange(gw.port, input, { finish: true, timeoutMs: 5_000 });
      const status = outcome.response?.status;
      if (!outcome.closed) failures.push(`case ${i}: not closed within 5 s`);
      else if (status !== undefined && (status < 400 || status > 499)) {
        failures.push(`case ${i}: status ${status}`);
      } else if (status === undefined && outcome.raw.length > 0) {
        failures.push(`case ${i}: not an HTTP answer: ${JSON.stringify(text(outcome.raw.slice(0, 60)))}`);
      } else counts[status === undefined ? "closed" : "4xx"]++;
      if (failures.length > 0) break;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  console.log(`fuzz e2e seed ${seed}: ${JSON.stringify(counts)}`);
  assert.deepEqual(failures, [], `FUZZ_SEED=${seed}`);
  assert.equal(counts["4xx"] + counts.closed + counts.reset, CASES);

  // Still up, still serving, and nothing leaked.
  {
    await using ws = await RawWs.open(gw.port, { path: "/only/after" });
    assert.equal(ws.response.status, 101);
    await ws.sendText("still here");
    assert.equal(text((await ws.next())!.payload), "still here");
  }
  await fdsBackTo(gw, baseline);
  assert.equal(gw.records("internal_error").length, 0, gw.output());
});
