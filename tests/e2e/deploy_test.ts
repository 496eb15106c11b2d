/**
 * deploy/kubernetes/ and the Containerfile: every manifest parses as YAML and has the fields the
 * README's "Scaling out" section relies on, and the ConfigMap's embedded config passes
 * `wsgate check` (with the Secret's token beside it, as the projected volume mounts it).
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { REPO, runGateway, tempDir } from "./_harness.ts";

// deno-lint-ignore no-explicit-any
type Manifest = Record<string, any>;

function manifests(file: string): Manifest[] {
  const docs = parseAllDocuments(Deno.readTextFileSync(`${REPO}deploy/kubernetes/${file}`));
  return docs.map((doc) => {
    assert.deepEqual(doc.errors, [], file);
    return doc.toJS() as Manifest;
  });
}

const [configMap, secret] = manifests("configmap.yaml") as [Manifest, Manifest];
const [deployment] = manifests("deployment.yaml") as [Manifest];
const [service, backendService] = manifests("service.yaml") as [Manifest, Manifest];
const embedded = configMap.data["wsgate.yaml"] as string;

Deno.test("deploy: the ConfigMap's config passes `wsgate check`, with its Secret's token beside it", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/wsgate.yaml`, embedded);
  await Deno.writeTextFile(`${dir.path}/admin-token`, secret.stringData["admin-token"]);
  const result = await runGateway(["check", "--config", `${dir.path}/wsgate.yaml`]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /configuration is valid/);
  assert.match(result.stdout, /resolve:app-backend\.default\.svc\.cluster\.local:8080/);
});

Deno.test("deploy: the manifests hold what the README relies on", () => {
  assert.equal(configMap.kind, "ConfigMap");
  assert.match(embedded, /^watch_config: true$/m);
  assert.equal(secret.kind, "Secret");

  assert.equal(deployment.kind, "Deployment");
  const pod = deployment.spec.template.spec;
  const [container] = pod.containers;
  assert.deepEqual(container.args, ["--config", "/etc/wsgate/wsgate.yaml"]);
  const ports = Object.fromEntries(container.ports.map((p: Manifest) => [p.name, p.containerPort]));
  assert.deepEqual(ports, { ws: 8020, admin: 9090 });
  assert.match(embedded, /listen: \["0\.0\.0\.0:8020"\]/);
  assert.match(embedded, /listen: "0\.0\.0\.0:9090"/);
  assert.deepEqual(container.readinessProbe.httpGet, { path: "/healthz", port: "admin" });
  // The drain fits: preStop sleep + shutdown_timeout < terminationGracePeriodSeconds.
  const preStop = container.lifecycle.preStop.sleep.seconds as number;
  const shutdown = Number(/^shutdown_timeout: (\d+)s/m.exec(embedded)?.[1]);
  assert.ok(preStop + shutdown < pod.terminationGracePeriodSeconds, `${preStop} + ${shutdown}`);
  assert.match(container.resources.requests.memory, /^\d+Mi$/);
  assert.match(container.resources.limits.memory, /^\d+Mi$/);
  // The ConfigMap and the Secret in one volume, where --config and token_file look.
  const mount = container.volumeMounts.find((m: Manifest) => m.mountPath === "/etc/wsgate");
  const volume = pod.volumes.find((v: Manifest) => v.name === mount.name);
  assert.deepEqual(volume.projected.sources, [
    { configMap: { name: configMap.metadata.name } },
    { secret: { name: secret.metadata.name } },
  ]);

  assert.equal(service.kind, "Service");
  assert.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
  assert.equal(service.spec.ports[0].targetPort, "ws");
  // The backends' Service is headless, and it is the name the config resolves.
  assert.equal(backendService.spec.clusterIP, "None");
  assert.match(
    embedded,
    new RegExp(`"${backendService.metadata.name}\\.default\\.svc\\.cluster\\.local:8080"`),
  );
  assert.equal(backendService.spec.ports[0].name, "ws");
});

Deno.test("deploy: the Containerfile builds the binary the way `deno task compile:bun` does", () => {
  const containerfile = Deno.readTextFileSync(`${REPO}Containerfile`);
  const task = JSON.parse(Deno.readTextFileSync(`${REPO}deno.json`)).tasks["compile:bun"] as string;
  const flags = /build (--compile .* main\.ts)/.exec(task)?.[1];
  assert.ok(flags, task);
  assert.ok(containerfile.includes(`bun build ${flags} --outfile /wsgate`), "same build flags");
  assert.match(containerfile, /^FROM docker\.io\/oven\/bun:1\.4\.5 AS build$/m);
  assert.match(containerfile, /^ENTRYPOINT \["\/usr\/local\/bin\/wsgate"\]$/m);
});
