/**
 * `watch_config: true` (DESIGN §3c): the config file changed by an in-place write, an editor's
 * atomic rename and a Kubernetes ConfigMap's `..data` symlink swap is reloaded like SIGHUP and in
 * use within 2 s; an invalid change is rejected and logged while the old config serves; a deleted
 * file and a symlink loop are logged once and waited out.
 */
import assert from "node:assert/strict";
import { wsEchoBackend } from "./_backends.ts";
import { handshake } from "./_balance.ts";
import { eventually, type Gateway, startGateway, tempDir, toYaml } from "./_harness.ts";

type WsBackend = Awaited<ReturnType<typeof wsEchoBackend>>;

/** Route `/` to `backend`, with the file watched. */
function yaml(backend: WsBackend, extra: Record<string, unknown> = {}): string {
  return toYaml({
    servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers: [backend.address] } },
    watch_config: true,
    ...extra,
  });
}

/** Which of the two backends a new tunnel reaches. */
async function lands(gw: Gateway, backends: WsBackend[], tag: string): Promise<number> {
  const path = `/${tag}/${crypto.randomUUID()}`;
  assert.equal(await handshake(gw.port, { path }), 101);
  return backends.findIndex((b) => b.requests.some((r) => r.url === path));
}

/** Changes the file with `change`, then waits for the reload (measured ~1 s on both runtimes; the
 * 5 s bound only keeps a loaded machine from failing it): the new upstream takes the next tunnel. */
async function reloadsTo(
  gw: Gateway,
  backends: WsBackend[],
  to: number,
  change: () => Promise<void>,
): Promise<void> {
  const reloads = gw.records("reloaded").length;
  await change();
  await eventually(() => gw.records("reloaded").length > reloads, 5_000, "reloaded");
  assert.equal(await lands(gw, backends, `after-${to}`), to);
}

Deno.test("watch_config: an in-place write and an atomic rename are reloaded like SIGHUP", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  const backends = [a, b];
  await using gw = await startGateway({ config: yaml(a) });
  const file = `${gw.dir}/wsgate.yaml`;
  assert.equal(await lands(gw, backends, "start"), 0);
  await reloadsTo(gw, backends, 1, () => Deno.writeTextFile(file, yaml(b)));
  await gw.waitForEvent("config_changed", { config: file });
  await reloadsTo(gw, backends, 0, async () => {
    await Deno.writeTextFile(`${file}.tmp`, yaml(a));
    await Deno.rename(`${file}.tmp`, file);
  });
});

Deno.test("watch_config: a ConfigMap's ..data symlink swap is reloaded", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  const backends = [a, b];
  await using tmp = await tempDir();
  // The kubelet's layout: wsgate.yaml -> ..data/wsgate.yaml, ..data -> ..<timestamp>/.
  const dir = tmp.path;
  await Deno.mkdir(`${dir}/..2026_01`);
  await Deno.writeTextFile(`${dir}/..2026_01/wsgate.yaml`, yaml(a));
  await Deno.symlink("..2026_01", `${dir}/..data`);
  await Deno.symlink("..data/wsgate.yaml", `${dir}/wsgate.yaml`);
  await using gw = await startGateway({ args: ["--config", `${dir}/wsgate.yaml`] });
  assert.equal(await lands(gw, backends, "start"), 0);
  await reloadsTo(gw, backends, 1, async () => {
    await Deno.mkdir(`${dir}/..2026_02`);
    await Deno.writeTextFile(`${dir}/..2026_02/wsgate.yaml`, yaml(b));
    await Deno.symlink("..2026_02", `${dir}/..data_tmp`);
    await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
    await Deno.remove(`${dir}/..2026_01`, { recursive: true });
  });
});

Deno.test("watch_config: an invalid change is rejected and logged; the old config serves", async () => {
  await using a = await wsEchoBackend();
  await using gw = await startGateway({ config: yaml(a) });
  const file = `${gw.dir}/wsgate.yaml`;
  await Deno.writeTextFile(file, yaml(a).replace("servers:\n", "servers:\n  - bogus: 1\n"));
  const failed = await gw.waitForEvent("reload_failed", {}, 5_000);
  assert.equal(failed.level, "error");
  const error = await gw.waitForEvent("config_error");
  assert.match(error.fields.error ?? "", /wsgate\.yaml:\d+:\d+: servers\[0\]/);
  assert.equal(await lands(gw, [a], "still"), 0);
  assert.equal(gw.records("reload_failed").length, 1, "the same bad text is not retried");
});

Deno.test("watch_config: a deleted file and a symlink loop are waited out; the file coming back is reloaded", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  const backends = [a, b];
  await using gw = await startGateway({ config: yaml(a) });
  const file = `${gw.dir}/wsgate.yaml`;
  await Deno.remove(file);
  const gone = await gw.waitForEvent("config_watch_failed", { config: file });
  assert.equal(gone.level, "warn");
  assert.equal(await lands(gw, backends, "deleted"), 0);
  // A loop: the link points at itself through a second one.
  await Deno.symlink(`${gw.dir}/loop`, file);
  await Deno.symlink(file, `${gw.dir}/loop`);
  // Several polls go by (the watch reads every 500 ms): none may reload.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(gw.records("reloaded").length + gw.records("reload_failed").length, 0);
  assert.equal(gw.records("config_watch_failed").length, 1, "one line per failure streak");
  assert.equal(await lands(gw, backends, "loop"), 0);
  await reloadsTo(gw, backends, 1, async () => {
    await Deno.remove(file);
    await Deno.writeTextFile(file, yaml(b));
  });
  await gw.waitForEvent("config_watch_recovered", { config: file });
});

Deno.test("watch_config with workers: the supervisor watches the file and reloads every worker", async () => {
  await using a = await wsEchoBackend();
  await using b = await wsEchoBackend();
  const backends = [a, b];
  await using gw = await startGateway({ config: yaml(a, { workers: 2 }) });
  await gw.waitForEvent("ready", { worker: "1" });
  await gw.waitForEvent("ready", { worker: "0" });
  await Deno.writeTextFile(`${gw.dir}/wsgate.yaml`, yaml(b, { workers: 2 }));
  await gw.waitForEvent("reloaded", { worker: "0" });
  await gw.waitForEvent("reloaded", { worker: "1" });
  assert.equal(gw.records("config_changed").length, 1, "one watcher: the supervisor's");
  for (let i = 0; i < 6; i++) assert.equal(await lands(gw, backends, `workers-${i}`), 1);
});
