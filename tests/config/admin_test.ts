import assert from "node:assert/strict";
import { loadConfigFile } from "../../lib/config/load.ts";
import { validateConfig } from "../../lib/config/validate.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };
const BASE = {
  servers: [{ listen: "127.0.0.1:8020", routes: [{ path: "/", upstream: "app" }] }],
  upstreams: { app: { servers: ["127.0.0.1:8080"] } },
};
const LISTEN = { transport: "tcp", hostname: "127.0.0.1", port: 9090 };

Deno.test("admin.hosts: exact names, lower case, without the trailing dot; no wildcards", () => {
  const { config, issues } = validateConfig(
    { ...BASE, admin: { listen: "127.0.0.1:9090", hosts: ["Admin.Example.com.", "gw-1.internal"] } },
    OPTIONS,
  );
  assert.deepEqual(issues, []);
  assert.deepEqual(config?.admin, { listen: LISTEN, hosts: ["admin.example.com", "gw-1.internal"] });
  const bad = validateConfig(
    { ...BASE, admin: { listen: "127.0.0.1:9090", hosts: ["*.example.com", "a b", ""] } },
    OPTIONS,
  );
  assert.deepEqual(bad.issues.map((i) => [i.path.join("."), i.message]), [
    ["admin.hosts.2", "must not be empty"],
    ["admin.hosts.0", 'invalid host name "*.example.com" (list exact names like admin.example.com)'],
    ["admin.hosts.1", 'invalid host name "a b" (list exact names like admin.example.com)'],
  ]);
});

Deno.test("admin: listen is required once the section is there; unknown keys are named", () => {
  const { issues } = validateConfig({ ...BASE, admin: { hosts: "a.test", token: "x" } }, OPTIONS);
  assert.deepEqual(issues.map((i) => [i.path.join("."), i.message]), [
    ["admin.token", 'unknown key "token"; expected one of: listen, hosts, token_file'],
    ["admin", 'missing required key "listen"'],
  ]);
});

Deno.test("admin.token_file is named for load.ts, resolved against the config's directory", () => {
  const { config, files } = validateConfig(
    { ...BASE, admin: { listen: "127.0.0.1:9090", token_file: "admin.token" } },
    OPTIONS,
  );
  assert.deepEqual(files.map((f) => [f.path.join("."), f.file]), [[
    "admin.token_file",
    "/etc/wsgate/admin.token",
  ]]);
  assert.equal(config?.admin?.token_file, "/etc/wsgate/admin.token");
  const file = files[0]!;
  const token = file.read("s3cr3t-T0ken\n");
  assert.equal(token, "s3cr3t-T0ken", "the trailing newline is not part of the token");
  file.fill(token as string);
  assert.equal(config?.admin?.token, "s3cr3t-T0ken");
});

const YAML = `servers:
  - listen: "127.0.0.1:8020"
    routes: [{ path: /, upstream: app }]
upstreams:
  app: { servers: ["127.0.0.1:8080"] }
admin:
  listen: 127.0.0.1:9090
  token_file: admin.token
`;

/** The config above as /cfg/wsgate.yaml, and `token` (if any) as /cfg/admin.token. */
function load(token: string | undefined) {
  return loadConfigFile("/cfg/wsgate.yaml", (path) => {
    if (path === "/cfg/wsgate.yaml") return Promise.resolve(YAML);
    if (path === "/cfg/admin.token" && token !== undefined) return Promise.resolve(token);
    return Promise.reject(new Error(`No such file or directory (os error 2): readfile '${path}'`));
  });
}

Deno.test("loadConfigFile reads the admin token; a missing, empty or odd token file is an error at the key", async () => {
  const ok = await load("tok3n\r\n");
  assert.deepEqual(ok.errors, []);
  assert.equal(ok.config?.admin?.token, "tok3n");
  const at = "/cfg/wsgate.yaml:8:15: admin.token_file:";
  const cases: [string | undefined, string][] = [
    [undefined, `${at} cannot read "/cfg/admin.token": No such file or directory (os error 2)`],
    ["", `${at} "/cfg/admin.token" is empty (it must hold the admin token)`],
    ["\n\n", `${at} "/cfg/admin.token" is empty (it must hold the admin token)`],
    [
      "two words\n",
      `${at} "/cfg/admin.token" must hold the token alone on one line: visible ASCII, no spaces`,
    ],
    [
      "line1\nline2\n",
      `${at} "/cfg/admin.token" must hold the token alone on one line: visible ASCII, no spaces`,
    ],
  ];
  for (const [token, error] of cases) {
    const result = await load(token);
    assert.deepEqual(result.errors, [error], JSON.stringify(token));
    assert.equal(result.config, undefined);
  }
});
