/**
 * What a newcomer types wrong or expects from the shell: a misspelt flag gets the closest one, a
 * bare port says how to write it, --admin/--log-format adjust ./wsgate.yaml when there is one, and
 * relative paths under `deno task` mean the folder the command was typed in (INIT_CWD).
 */
import assert from "node:assert/strict";
import { REPO, runGateway, spawnGatewayIn, tempDir, toYaml } from "./_harness.ts";

Deno.test("cli: a misspelt flag is named with the closest known one; exit 2", async () => {
  const run = await runGateway(["--upstrem", "127.0.0.1:8080"]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /^wsgate: unknown flag --upstrem \(did you mean --upstream\?\)$/m);
  assert.doesNotMatch(run.stderr, /'-- "/, "not the parser's own advice with its unbalanced quote");
  assert.doesNotMatch(run.stdout + run.stderr, /^\s+at /m, "no stack trace");
});

Deno.test("cli: --listen 8020 says how to write a port", async () => {
  const run = await runGateway(["--listen", "8020", "--upstream", "127.0.0.1:8080"]);
  assert.notEqual(run.code, 0);
  assert.match(run.stdout + run.stderr, /--listen: .*write ":8020"/);
});

const LOCAL = toYaml({
  servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/from-file/", upstream: "app" }] }],
  upstreams: { app: { servers: ["127.0.0.1:9"] } },
});

Deno.test("cli: --admin and --log-format without --config adjust ./wsgate.yaml when it exists", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/wsgate.yaml`, LOCAL);
  await using gw = spawnGatewayIn(dir.path, ["--admin", "127.0.0.1:0", "--log-format", "json"]);
  const route = await gw.waitForEvent("route", {}, 10_000);
  assert.equal(route.fields.path, "/from-file/", "the file's route, not the built-in default");
  assert.ok(gw.lines.some((line) => line.startsWith("{")), "json, as the flag says");
  await gw.waitForEvent("admin_listening", {}, 5_000);
});

Deno.test({
  name: "cli: under deno task (cwd the repository, INIT_CWD set) relative paths mean the folder typed in",
  // `deno task` runs the source; a binary started anywhere just inherits INIT_CWD (next test).
  ignore: Deno.env.has("WSGATE_BIN"),
  fn: async () => {
    await using typedIn = await tempDir();
    await Deno.writeTextFile(`${typedIn.path}/mine.yaml`, LOCAL);
    const run = await runGateway(["check", "--config", "mine.yaml"], {
      cwd: REPO,
      env: { INIT_CWD: typedIn.path },
    });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /\/from-file\//);
  },
});

Deno.test("cli: a gateway started in its own folder keeps it, whatever INIT_CWD it inherited", async () => {
  await using own = await tempDir();
  await using other = await tempDir();
  await Deno.writeTextFile(`${own.path}/mine.yaml`, LOCAL);
  const run = await runGateway(["check", "--config", "mine.yaml"], {
    cwd: own.path,
    env: { INIT_CWD: other.path },
  });
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /\/from-file\//);
});
