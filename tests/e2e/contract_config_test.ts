/**
 * An outsider's black-box check of DESIGN §3, the configuration: located YAML errors, durations,
 * a key without effect and the reference file, written from the documents only, against the real
 * process. `check`'s summary and the file:line:col report of a config's key errors are in cli_test.ts.
 */
import assert from "node:assert/strict";
import { oneRouteConfig, REPO, runGateway, startGateway, tempDir } from "./_harness.ts";

Deno.test("config: a YAML syntax error and a missing file exit 1 with a located message, no stack trace", async () => {
  await using tmp = await tempDir();
  const file = `${tmp.path}/wsgate.yaml`;
  await Deno.writeTextFile(file, 'servers:\n  - listen: ["127.0.0.1:0"\n    routes: x\n');
  const syntax = await runGateway(["check", "--config", file]);
  assert.equal(syntax.code, 1);
  assert.match(syntax.stdout + syntax.stderr, /wsgate\.yaml:\d+:\d+: /);
  assert.doesNotMatch(syntax.stdout + syntax.stderr, /^\s+at /m);
  const missing = await runGateway(["--config", `${tmp.path}/nope.yaml`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stdout + missing.stderr, /nope\.yaml/);
  assert.doesNotMatch(missing.stdout + missing.stderr, /^\s+at /m);
});

Deno.test("config: durations 250ms, 30s, 5m, 2h, 1d, 1h30m and plain numbers of seconds are accepted", async () => {
  await using tmp = await tempDir();
  const file = `${tmp.path}/wsgate.yaml`;
  await Deno.writeTextFile(
    file,
    oneRouteConfig(["127.0.0.1:1"], {
      route: { read_timeout: "1d", send_timeout: "1h30m", idle_timeout: 90 },
      upstream: { connect_timeout: "250ms", servers: [{ address: "127.0.0.1:1", fail_timeout: "5m" }] },
      top: { limits: { handshake_timeout: 2.5 }, shutdown_timeout: "2h" },
    }),
  );
  const res = await runGateway(["check", "--config", file]);
  assert.equal(res.code, 0, res.stdout + res.stderr);
});

Deno.test("config: hash_key with a balance other than hash is valid but unused, and the start says so", async () => {
  await using tmp = await tempDir();
  const file = `${tmp.path}/wsgate.yaml`;
  const config = oneRouteConfig(["127.0.0.1:1"], {
    upstream: { balance: "least_conn", hash_key: "header:X-User-Id" },
  });
  await Deno.writeTextFile(file, config);
  const res = await runGateway(["check", "--config", file]);
  assert.equal(res.code, 0, res.stderr);
  await using gw = await startGateway({ config });
  const warning = gw.records("hash_key_unused")[0];
  assert.ok(warning, gw.output());
  assert.equal(warning?.fields.balance, "least_conn");
});

Deno.test("config.example.yaml (the commented reference) passes check", async () => {
  const res = await runGateway(["check", "--config", `${REPO}config.example.yaml`]);
  assert.equal(res.code, 0, res.stdout + res.stderr);
});
