/** The command line (DESIGN §2): check, --help, --version, ad-hoc flags, signals. */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openDenoWs } from "./_clients.ts";
import {
  CONFIGS,
  oneRouteConfig,
  parseLogLine,
  REPO,
  runGateway,
  startGateway,
  tempDir,
} from "./_harness.ts";
import { parseResponse, rawRequest, upgradeRequest, withTimeout } from "./_wire.ts";

Deno.test("cli: check on a valid file exits 0 and summarises listeners, routes and upstreams", async () => {
  const result = await runGateway(["check", "--config", `${CONFIGS}good.yaml`]);
  assert.equal(result.code, 0, result.stderr);
  for (const part of ["127.0.0.1:18020", "/chat/", "chat", "127.0.0.1:19001", "127.0.0.1:19002"]) {
    assert.ok(result.stdout.includes(part), `summary mentions ${part}:\n${result.stdout}`);
  }
});

Deno.test("cli: check on an invalid file exits 1 and reports every problem as file:line:col: key: message", async () => {
  const result = await runGateway(["check", "--config", `${CONFIGS}bad.yaml`]);
  assert.equal(result.code, 1);
  const expected = [
    { line: 6, columns: [9, 19], key: "servers[0].routes[0].upstream" },
    { line: 11, columns: [9, 17], key: "upstreams.chat.servers[0].weight" },
    { line: 13, columns: [3, 22], key: "limits.handshake_timeout" },
  ];
  for (const { line, columns, key } of expected) {
    const m = new RegExp(`bad\\.yaml:${line}:(\\d+): ${key.replace(/[.[\]]/g, "\\$&")}: \\S`).exec(
      result.stderr,
    );
    assert.ok(m, `an error for ${key} on line ${line} in:\n${result.stderr}`);
    assert.ok(columns.includes(Number(m[1])), `column ${m[1]} points at the key or the value of ${key}`);
  }
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(result.stderr, /\b(TypeError|SyntaxError|Uncaught)\b/);
});

Deno.test("cli: check without --config validates what a plain run would load", async (t) => {
  await using tmp = await tempDir();
  await t.step("no ./wsgate.yaml: the built-in default", async () => {
    const result = await runGateway(["check"], { cwd: tmp.path });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /built-in default: configuration is valid/);
    assert.match(result.stdout, /0\.0\.0\.0:8020/);
  });
  await t.step("./wsgate.yaml in the working directory", async () => {
    await Deno.writeTextFile(`${tmp.path}/wsgate.yaml`, "servers: []\n");
    const result = await runGateway(["check"], { cwd: tmp.path });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^wsgate\.yaml:1:\d+: servers: /m);
  });
  await t.step("ad-hoc flags", async () => {
    const result = await runGateway(["check", "--listen", ":1", "--upstream", "nope"], { cwd: tmp.path });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^--upstream: /m);
  });
});

Deno.test("cli: a port already in use exits 1 and the log names the address", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const addr = `127.0.0.1:${(taken.addr as Deno.NetAddr).port}`;
    const result = await runGateway(["--listen", addr, "--upstream", "127.0.0.1:1"]);
    assert.equal(result.code, 1);
    const failed = result.stdout.split("\n").map(parseLogLine).find((r) => r?.event === "listen_failed");
    assert.ok(failed, result.stdout);
    assert.match(failed.fields.reason ?? "", new RegExp(`cannot listen on ${addr}: `));
  } finally {
    taken.close();
  }
});

Deno.test("cli: running with an invalid config exits 1 with the errors and no stack trace", async () => {
  const result = await runGateway(["--config", `${CONFIGS}bad.yaml`]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /bad\.yaml:11:\d+: upstreams\.chat\.servers\[0\]\.weight: /);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
});

Deno.test("cli: --help and --version exit 0", async (t) => {
  await t.step("--help shows the flags and examples", async () => {
    const result = await runGateway(["--help"]);
    assert.equal(result.code, 0);
    for (const word of ["--listen", "--upstream", "--config", "--tls-cert", "--idle-timeout", "check"]) {
      assert.ok(result.stdout.includes(word), `help mentions ${word}`);
    }
    assert.match(result.stdout, /^\s*wsgate --listen \S+ --upstream \S+/m, "an example command line");
  });

  await t.step("--version prints wsgate <version> (<runtime> <version>)", async () => {
    const result = await runGateway(["--version"]);
    assert.equal(result.code, 0);
    const { version } = JSON.parse(await Deno.readTextFile(`${REPO}package.json`)) as { version: string };
    assert.match(
      result.stdout.trim(),
      new RegExp(`^wsgate ${version.replaceAll(".", "\\.")} \\((deno|bun) \\d+\\.\\d+\\.\\d+\\)$`),
    );
  });
});

Deno.test("cli: ad-hoc flags run a one-route gateway with JSON logs", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: [
      "--listen",
      "127.0.0.1:0",
      "--upstream",
      `ws://${backend.address}`,
      "--path",
      "/app/",
      "--log-format",
      "json",
    ],
  });
  await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/app/room`);
  client.send("ad hoc");
  assert.equal(await client.next(), "ad hoc");
  const outside = parseResponse(await rawRequest(gw.port, upgradeRequest({ path: "/elsewhere" })));
  assert.equal(outside.status, 404);
  await gw.waitForEvent("reject", { status: "404" });
  for (const line of gw.lines) {
    const record = JSON.parse(line) as Record<string, unknown>;
    assert.equal(typeof record.time, "string", line);
    assert.ok(!Number.isNaN(Date.parse(record.time as string)), line);
    assert.equal(typeof record.level, "string", line);
    assert.equal(typeof record.event, "string", line);
  }
  assert.equal(gw.records("listening")[0]?.fields.transport, "tcp");
});

Deno.test("cli: SIGTERM on an idle gateway logs shutdown and stopped, exit code 0", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  const status = await gw.stop("SIGTERM");
  assert.equal(status.code, 0, gw.output());
  await gw.waitForLine(/\binfo stopped\b/, 1_000);
  const events = gw.lines.map((l) => parseLogLine(l)?.event);
  const shutdown = events.indexOf("shutdown");
  assert.ok(shutdown >= 0 && events.indexOf("stopped") > shutdown, "shutdown, then stopped");
  assert.equal(gw.records("shutdown")[0]?.fields.signal, "SIGTERM");
});

Deno.test("cli: SIGTERM drains an open tunnel for at most shutdown_timeout, then exits 0", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address], { top: { shutdown_timeout: "1s" } }),
  });
  await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/draining`);
  const port = gw.port;
  const started = Date.now();
  Deno.kill(gw.pid, "SIGTERM");
  await gw.waitForEvent("shutdown");

  client.send("still open while draining");
  assert.equal(await client.next(), "still open while draining");
  const late = await Deno.connect({ hostname: "127.0.0.1", port }).then(
    (c) => c.close(),
    (err: unknown) => err,
  );
  assert.ok(late instanceof Deno.errors.ConnectionRefused, `no new connections while draining: ${late}`);

  const status = await withTimeout(gw.exited, 5_000, "exit after the drain");
  const elapsed = Date.now() - started;
  assert.equal(status.code, 0, gw.output());
  assert.ok(elapsed >= 900 && elapsed < 4_000, `exited ${elapsed} ms after SIGTERM`);
  await withTimeout(client.closed, 3_000, "the drained tunnel is closed");
  await gw.waitForEvent("stopped");
});
