/**
 * An outsider's black-box check of DESIGN §2, the command line: flags, listeners, balancing and
 * start-up failures, written from the documents only, against the real process.
 */
import assert from "node:assert/strict";
import { deadPort, denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { openDenoWs, openNodeWs, RawWs } from "./_clients.ts";
import { ask, upgrade } from "./_contract.ts";
import { CA_PEM, CERTS, runGateway, startGateway, tempDir } from "./_harness.ts";

/** Arguments for a gateway on 127.0.0.1:0 in front of `upstream`, then `more` as `--flag value` pairs. */
const adHoc = (upstream: string, more: Record<string, string> = {}) => [
  ...["--listen", "127.0.0.1:0", "--upstream", upstream],
  ...Object.entries(more).flat(),
];

Deno.test("cli: --help and --version exit 0", async () => {
  const help = await runGateway(["--help"]);
  assert.equal(help.code, 0);
  for (const word of ["--config", "--listen", "--upstream", "--balance", "--admin", "check"]) {
    assert.ok(help.stdout.includes(word), word);
  }
  const version = await runGateway(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^wsgate \d+\.\d+\.\d+/);
});

Deno.test("cli: --listen :port, real WebSocket peers both ways (Deno.serve and npm ws)", async () => {
  await using deno = await denoEchoBackend();
  await using node = await wsEchoBackend();
  const port = deadPort();
  await using gw = await startGateway({
    args: ["--listen", `:${port}`, "--upstream", `ws://${deno.address}`],
  });
  await using a = await openNodeWs(`ws://127.0.0.1:${port}/chat`);
  a.send("text");
  assert.equal(await a.next(), "text");
  a.send(new Uint8Array([0, 1, 255]));
  assert.deepEqual(await a.next(), new Uint8Array([0, 1, 255]));
  await using gw2 = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", node.address] });
  await using b = await openDenoWs(`ws://127.0.0.1:${gw2.port}/`);
  b.send("deno client");
  assert.equal(await b.next(), "deno client");
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

Deno.test("cli: --listen unix:/path", async () => {
  await using backend = await wsEchoBackend();
  await using tmp = await tempDir();
  const path = `${tmp.path}/gw.sock`;
  await using _gw = await startGateway({ args: ["--listen", `unix:${path}`, "--upstream", backend.address] });
  await using c = await RawWs.open({ path }, { request: upgrade("/") });
  assert.equal(c.response.status, 101);
});

Deno.test("cli: --tls-cert/--tls-key serve wss:// and X-Forwarded-Proto is https", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: adHoc(backend.address, {
      "--tls-cert": `${CERTS}localhost.pem`,
      "--tls-key": `${CERTS}localhost-key.pem`,
    }),
  });
  await using c = await openNodeWs(`wss://localhost:${gw.port}/`, { ca: CA_PEM });
  c.send("tls");
  assert.equal(await c.next(), "tls");
  assert.equal(backend.requests.at(-1)!.headers.get("x-forwarded-proto"), "https");
});

Deno.test("cli: --balance ip_hash keeps one client on one server; round_robin spreads; bad value exits 1", async () => {
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
  const bad = await runGateway(["--listen", "127.0.0.1:0", "--balance", "fastest", "--upstream", a.address]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /balance/);
  assert.doesNotMatch(bad.stderr, /^\s+at /m, "no stack trace");
});

Deno.test("cli: --admin, --path, --log-format json, --idle-timeout", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: adHoc(backend.address, {
      "--admin": "127.0.0.1:0",
      "--path": "/ws/",
      "--log-format": "json",
      "--idle-timeout": "500ms",
    }),
  });
  const health = await gw.admin("GET", "/healthz");
  assert.equal(health.status, 200);
  assert.equal((await ask(gw.port, upgrade("/other"))).status, 404);
  await using c = await RawWs.open(gw.port, { request: upgrade("/ws/x") });
  assert.equal(c.response.status, 101);
  const started = Date.now();
  assert.equal(await c.next(6_000), null, "closed when idle");
  assert.ok(Date.now() - started < 5_000);
  for (const line of gw.lines.filter((l) => l.trim() !== "")) {
    assert.equal(typeof JSON.parse(line).event, "string", line);
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

Deno.test("cli: an unknown flag or a bad duration exits non-zero with a message and no stack trace", async () => {
  for (const args of [["--lisen", ":8020"], ["--idle-timeout", "soon", "--upstream", "127.0.0.1:1"]]) {
    const res = await runGateway(args);
    assert.notEqual(res.code, 0, args.join(" "));
    assert.ok((res.stdout + res.stderr).trim().length > 0);
    assert.doesNotMatch(res.stdout + res.stderr, /^\s+at /m, "no stack trace");
  }
});

Deno.test("cli: --idle-timeout takes a plain number of seconds", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: ["--listen", "127.0.0.1:0", "--upstream", backend.address, "--idle-timeout", "1"],
  });
  await using c = await RawWs.open(gw.port, { request: upgrade("/") });
  assert.equal(await c.next(6_000), null, "closed when idle");
});

Deno.test("a listen address already in use: exit non-zero, no stack trace", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const res = await runGateway(["--listen", `127.0.0.1:${busy.addr.port}`, "--upstream", "127.0.0.1:1"]);
    assert.notEqual(res.code, 0);
    assert.doesNotMatch(res.stdout + res.stderr, /^\s+at /m);
  } finally {
    busy.close();
  }
});
