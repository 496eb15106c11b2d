/**
 * An outsider's black-box check of DESIGN §2, the command line: listen forms, balancing and bad
 * flag values, written from the documents only, against the real process. --help, check and a busy
 * port are in cli_test.ts; --listen unix: in unix_test.ts, --tls-cert in tls_test.ts, --idle-timeout
 * in tunnel_test.ts, a misspelt flag in newcomer_test.ts.
 */
import assert from "node:assert/strict";
import { deadPort, denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { openDenoWs, openNodeWs, RawWs } from "./_clients.ts";
import { upgrade } from "./_contract.ts";
import { runGateway, startGateway } from "./_harness.ts";

/** Arguments for a gateway on 127.0.0.1:0 in front of `upstream`, then `more` as `--flag value` pairs. */
const adHoc = (upstream: string, more: Record<string, string> = {}) => [
  ...["--listen", "127.0.0.1:0", "--upstream", upstream],
  ...Object.entries(more).flat(),
];

Deno.test("cli: --listen :port (no host) serves ws:// upstreams, and the log says where it listens", async () => {
  await using deno = await denoEchoBackend();
  const port = deadPort();
  await using gw = await startGateway({
    args: ["--listen", `:${port}`, "--upstream", `ws://${deno.address}`],
  });
  await using a = await openNodeWs(`ws://127.0.0.1:${port}/chat`);
  a.send("text");
  assert.equal(await a.next(), "text");
  a.send(new Uint8Array([0, 1, 255]));
  assert.deepEqual(await a.next(), new Uint8Array([0, 1, 255]));
  assert.ok(gw.lines.some((l) => l.includes(`:${port}`)), "prints where it listens");
});

Deno.test("cli: --listen [::1]:port", async () => {
  await using backend = await wsEchoBackend();
  const port = deadPort();
  await using _gw = await startGateway({
    args: ["--listen", `[::1]:${port}`, "--upstream", backend.address],
  });
  await using c = await openDenoWs(`ws://[::1]:${port}/`);
  c.send("v6");
  assert.equal(await c.next(), "v6");
  const seen = backend.requests.at(-1)!.headers;
  assert.equal(seen.get("x-real-ip"), "::1");
  assert.equal(seen.get("x-forwarded-for"), "::1");
});

Deno.test("cli: --balance ip_hash keeps one client on one server; round_robin and least_conn spread", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  for (const [policy, servers] of [["ip_hash", 1], ["round_robin", 2], ["least_conn", 2]] as const) {
    await using gw = await startGateway({
      args: [...adHoc(a.address, { "--balance": policy }), "--upstream", b.address],
    });
    const before = [a.requests.length, b.requests.length];
    for (let i = 0; i < 4; i++) {
      await using c = await RawWs.open(gw.port, { request: upgrade("/") });
      assert.equal(c.response.status, 101);
    }
    const used = [a.requests.length - before[0]!, b.requests.length - before[1]!].filter((n) => n > 0).length;
    assert.equal(used, servers, policy);
  }
});

Deno.test("cli: repeated --listen and --upstream: both listeners serve, round robin alternates", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  const [p1, p2] = [deadPort(), deadPort()];
  await using _gw = await startGateway({
    args: [
      "--listen",
      `127.0.0.1:${p1}`,
      "--listen",
      `127.0.0.1:${p2}`,
      "--upstream",
      a.address,
      "--upstream",
      b.address,
    ],
  });
  const order: string[] = [];
  for (const port of [p1, p2, p1, p2]) {
    const before = a.requests.length;
    await using c = await RawWs.open(port, { request: upgrade("/") });
    assert.equal(c.response.status, 101);
    order.push(a.requests.length > before ? "a" : "b");
  }
  assert.ok(order.join("") === "abab" || order.join("") === "baba", order.join(""));
});

/** An unknown flag (with the closest known one) is in newcomer_test.ts. */
Deno.test("cli: a bad flag value exits non-zero, names the flag, no stack trace", async () => {
  const cases: [string[], RegExp][] = [
    [["--idle-timeout", "soon", "--upstream", "127.0.0.1:1"], /^--idle-timeout: /m],
    [["--listen", "127.0.0.1:0", "--balance", "fastest", "--upstream", "127.0.0.1:1"], /^--balance: /m],
  ];
  for (const [args, names] of cases) {
    const res = await runGateway(args);
    const out = res.stdout + res.stderr;
    assert.notEqual(res.code, 0, args.join(" "));
    assert.match(out, names);
    assert.doesNotMatch(out, /^\s+at /m, "no stack trace");
  }
});
