/** The command line (DESIGN §2): check and its error reports, --help, --version, ad-hoc flags, a busy port. */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { openDenoWs } from "./_clients.ts";
import { CONFIGS, parseLogLine, REPO, runGateway, startGateway, tempDir } from "./_harness.ts";
import { parseResponse, rawRequest, upgradeRequest } from "./_wire.ts";

Deno.test("cli: check on a valid file exits 0 and summarises listeners, routes and upstreams", async () => {
  const result = await runGateway(["check", "--config", `${CONFIGS}good.yaml`]);
  assert.equal(result.code, 0, result.stderr);
  for (const part of ["127.0.0.1:18020", "/chat/", "chat", "127.0.0.1:19001", "127.0.0.1:19002"]) {
    assert.ok(result.stdout.includes(part), `summary mentions ${part}:\n${result.stdout}`);
  }
});

/** `file:line:col: key.path: message`, one line per problem. */
const ERROR_LINE = /^(.+):(\d+):(\d+): ([\w.\[\]-]+): .+$/;

/** A problem the config has on `line`, reported at the column of its key or of its value. */
type Problem = { line: number; columns: number[]; key: string };

/** Three other mistakes, written inline: an unknown key, a bad duration, a negative weight. */
const INLINE_BAD = [
  "servers:",
  '  - listen: ["127.0.0.1:0"]',
  "    lisen: oops",
  "    routes:",
  "      - { path: /a/, upstream: app, read_timeout: 10 parsecs }",
  "upstreams:",
  "  app:",
  "    servers:",
  "      - { address: 127.0.0.1:1, weight: -2 }",
  "",
].join("\n");

Deno.test("cli: an invalid config exits 1 from check and from a run, every problem at once as file:line:col: key: message", async () => {
  await using tmp = await tempDir();
  const inline = `${tmp.path}/wsgate.yaml`;
  await Deno.writeTextFile(inline, INLINE_BAD);
  const configs: [string, Problem[]][] = [
    [`${CONFIGS}bad.yaml`, [
      { line: 6, columns: [9, 19], key: "servers[0].routes[0].upstream" },
      { line: 11, columns: [9, 17], key: "upstreams.chat.servers[0].weight" },
      { line: 13, columns: [3, 22], key: "limits.handshake_timeout" },
    ]],
    [inline, [
      { line: 3, columns: [5, 12], key: "servers[0].lisen" },
      { line: 5, columns: [37, 51], key: "servers[0].routes[0].read_timeout" },
      { line: 9, columns: [33, 41], key: "upstreams.app.servers[0].weight" },
    ]],
  ];
  for (const [file, problems] of configs) {
    for (const args of [["check", "--config", file], ["--config", file]]) {
      const what = args.join(" ");
      const result = await runGateway(args);
      assert.equal(result.code, 1, what);
      const errors = result.stderr.split("\n").map((l) => ERROR_LINE.exec(l)).filter((m) => m !== null);
      assert.ok(errors.every((m) => m[1] === file), `${what}: every error names the file\n${result.stderr}`);
      for (const { line, columns, key } of problems) {
        const m = errors.find((e) => e[4] === key);
        assert.ok(m, `${what}: an error for ${key} in:\n${result.stderr}`);
        assert.equal(Number(m[2]), line, `${what}: the line of ${key}`);
        assert.ok(
          columns.includes(Number(m[3])),
          `${what}: column ${m[3]} points at the key or the value of ${key}`,
        );
      }
      assert.doesNotMatch(result.stdout + result.stderr, /^\s+at /m, "no stack trace");
      assert.doesNotMatch(result.stderr, /\b(TypeError|SyntaxError|Uncaught)\b/);
    }
  }
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

Deno.test("cli: a port already in use exits 1, the log names the address in the OS's words on every runtime, no stack trace", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const addr = `127.0.0.1:${(taken.addr as Deno.NetAddr).port}`;
    const result = await runGateway(["--listen", addr, "--upstream", "127.0.0.1:1"]);
    assert.equal(result.code, 1);
    const failed = result.stdout.split("\n").map(parseLogLine).find((r) => r?.event === "listen_failed");
    assert.ok(failed, result.stdout);
    // Bun's own words would be "Failed to listen at 127.0.0.1"; both runtimes say what the OS says.
    assert.match(failed.fields.reason ?? "", new RegExp(`^cannot listen on ${addr}: Address already in use`));
    assert.doesNotMatch(result.stdout + result.stderr, /^\s+at /m, "no stack trace");
  } finally {
    taken.close();
  }
});

Deno.test("cli: --help and --version exit 0", async (t) => {
  await t.step("--help shows the flags, the check command and an example", async () => {
    const result = await runGateway(["--help"]);
    assert.equal(result.code, 0);
    const words = [
      "--config",
      "--listen",
      "--upstream",
      "--balance",
      "--admin",
      "--tls-cert",
      "--idle-timeout",
    ];
    for (const word of [...words, "check"]) {
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

Deno.test("cli: ad-hoc flags run a one-route gateway with JSON logs and an admin listener", async () => {
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
      "--admin",
      "127.0.0.1:0",
    ],
  });
  assert.equal((await gw.admin("GET", "/healthz")).status, 200);
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
