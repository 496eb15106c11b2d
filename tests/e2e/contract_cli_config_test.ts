/**
 * An outsider's black-box check of DESIGN §2, where the configuration comes from: `--config FILE`
 * (with flags), else ./wsgate.yaml, else the built-in default, against the real process.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { upgrade } from "./_contract.ts";
import { oneRouteConfig, runGateway, spawnGatewayIn, startGateway, tempDir, toYaml } from "./_harness.ts";

Deno.test("cli: no --config picks up ./wsgate.yaml from the working directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-contract-" });
  await using backend = await wsEchoBackend();
  await Deno.writeTextFile(
    `${dir}/wsgate.yaml`,
    toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/fromfile/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend.address] } },
    }),
  );
  await using gw = spawnGatewayIn(dir);
  await gw.waitForEvent("ready");
  assert.ok(gw.lines.some((l) => l.includes("/fromfile/")), gw.output());
  await using c = await RawWs.open(gw.port, { request: upgrade("/fromfile/x") });
  assert.equal(c.response.status, 101);
});

Deno.test("cli: no file, no flags: the built-in default (0.0.0.0:8020 -> 127.0.0.1:8080) is announced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-contract-" });
  await using gw = spawnGatewayIn(dir);
  const line = await gw.waitForLine(/default/i);
  const said = gw.lines.join("\n") + line;
  assert.match(said, /0\.0\.0\.0:8020/);
  assert.match(said, /127\.0\.0\.1:8080/);
});

Deno.test("cli: --config FILE with --log-format json and --admin (DESIGN §2: `wsgate [--config FILE] [flags]`)", async () => {
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    config: oneRouteConfig([backend.address]),
    args: ["--log-format", "json", "--admin", "127.0.0.1:0"],
  });
  assert.ok(gw.lines.every((l) => l.startsWith("{")), gw.output());
  assert.ok(gw.records("admin_listening").length > 0, gw.output());
  // Flags that build a route still conflict with a file, and say which.
  await using tmp = await tempDir();
  await Deno.writeTextFile(`${tmp.path}/wsgate.yaml`, oneRouteConfig([backend.address]));
  const res = await runGateway(["--config", `${tmp.path}/wsgate.yaml`, "--upstream", "127.0.0.1:1"]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /--config cannot be combined with --upstream/);
});
