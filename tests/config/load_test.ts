import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { loadConfigFile, loadConfigObject } from "../../lib/config/load.ts";

const FIXTURES = join(import.meta.dirname!, "fixtures");
const EXAMPLE = join(import.meta.dirname!, "..", "..", "config.example.yaml");
const readFile = (path: string) => Deno.readTextFile(path);
const DURATION = "must be a duration like 250ms, 30s, 5m, 2h, 1d";
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/** Real files for YAML, `pems` for everything else (missing -> the runtime's NotFound message). */
function readWith(pems: Record<string, string>) {
  return (path: string) =>
    path.endsWith(".yaml") ? readFile(path) : path in pems ? Promise.resolve(pems[path]!) : readFile(path);
}

Deno.test("loadConfigFile reports each problem as file:line:col: key.path: message", async () => {
  const cases: [string, string[]][] = [
    ["bad_weight.yaml", ["12:17: upstreams.websocket.servers[1].weight: must be a positive integer"]],
    ["unknown_nested_key.yaml", [
      '6:9: servers[0].routes[0].read_timout: unknown key "read_timout"; did you mean "read_timeout"?',
    ]],
    ["syntax_error.yaml", [
      "6:1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ]],
    ["duplicate_key.yaml", ["6:9: YAML syntax error: Map keys must be unique"]],
    ["unquoted_wildcard.yaml", [
      '3:13: YAML syntax error: unknown alias "*.example.com" (quote values that start with "*", like "*.example.com")',
    ]],
    ["empty.yaml", ["1:1: config is empty"]],
    ["not_a_mapping.yaml", ["1:1: must be a mapping (key: value)"]],
    ["many_problems.yaml", [
      "2:5: servers[0].listen: must be a string or a list of strings",
      '3:30: servers[0].hosts[1]: invalid host name "bad host" (use names like chat.example.com or *.example.com)',
      '6:19: servers[0].routes[0].upstream: unknown upstream "websockt"; did you mean "websocket"?',
      "7:25: servers[0].routes[0].websocket_only: must be true or false",
      '8:9: servers[0].routes[1]: missing required key "path"',
      `11:55: servers[1].routes[0].idle_timeout: ${DURATION} (unknown unit "minutes")`,
      '14:14: upstreams.websocket.balance: unsupported balance "fair"; supported: round_robin, least_conn, ip_hash, hash, random',
      '17:20: upstreams.websocket.servers[1].address: upstream URLs take no path, query or fragment (routes decide the path): "/ws"',
      "18:27: limits.max_head_bytes: must be an integer from 1024 to 1048576",
      "19:16: log.format: must be one of: text, json",
      '19:21: log.acess: unknown key "acess"; did you mean "access"?',
    ]],
  ];
  for (const [name, expected] of cases) {
    const file = join(FIXTURES, name);
    const result = await loadConfigFile(file, readFile);
    assert.deepEqual(result.errors, expected.map((error) => `${file}:${error}`), name);
    assert.equal(result.config, undefined, name);
  }
});

Deno.test("loadConfigFile turns odd YAML into one-line errors", async () => {
  const tenX = `[${Array(10).fill('"x"').join(",")}]`;
  const aliases = (name: string, of: string) => `${name}: &${name} [${Array(10).fill(`*${of}`).join(",")}]`;
  const cases: [string, string, string[]][] = [
    ["two documents", "servers: []\n---\nx: 1\n", [
      'f:2:1: YAML syntax error: a config holds one YAML document; remove this "---" and what follows',
    ]],
    ["alias bomb", [`a: &a ${tenX}`, aliases("b", "a"), aliases("c", "b"), aliases("d", "c")].join("\n"), [
      "f:1:1: YAML error: Excessive alias count indicates a resource exhaustion attack",
    ]],
    ["tabs", "servers:\n\t- listen: x\n", ["f:2:1: YAML syntax error: Tabs are not allowed as indentation"]],
    ["null document", "~\n", ["f:1:1: must be a mapping (key: value)"]],
    [
      "CRLF line ends",
      'servers:\r\n  - listen: nope\r\n    routes: [{path: /, upstream: a}]\r\nupstreams: {a: {servers: ["b:1"]}}\r\n',
      [
        "f:2:13: servers[0].listen: missing port (expected host:port, :port, [ipv6]:port or unix:/path)",
      ],
    ],
    [
      "error inside an alias points at its anchor",
      'upstreams:\n  a: &g {servers: ["b:0"]}\n  b: *g\nservers: [{listen: ":1", routes: [{path: /, upstream: a}]}]\n',
      [
        'f:2:20: upstreams.a.servers[0]: invalid port "0" (must be 1..65535)',
        'f:2:20: upstreams.b.servers[0]: invalid port "0" (must be 1..65535)',
      ],
    ],
  ];
  for (const [name, text, expected] of cases) {
    assert.deepEqual(await loadConfigFile("f", () => Promise.resolve(text)), { errors: expected }, name);
  }
});

Deno.test("loadConfigFile reports unreadable files in one line", async () => {
  const missing = join(FIXTURES, "missing.yaml");
  const cases: [string, (path: string) => Promise<string>, string][] = [
    ["missing file", readFile, `${missing}: cannot read: No such file or directory (os error 2)`],
    ["a directory", () => readFile(FIXTURES), `${missing}: cannot read: Is a directory (os error 21)`],
    [
      "a thrown string",
      () => Promise.reject("disk on fire\nat line 2"),
      `${missing}: cannot read: disk on fire`,
    ],
    [
      "Bun-style message",
      () => Promise.reject(new Error("ENOENT: no such file or directory, open '/x'")),
      `${missing}: cannot read: ENOENT: no such file or directory`,
    ],
  ];
  for (const [name, read, expected] of cases) {
    assert.deepEqual(await loadConfigFile(missing, read), { errors: [expected] }, name);
  }
});

Deno.test("loadConfigFile reports unreadable PEM files at their key", async () => {
  const file = join(FIXTURES, "tls.yaml");
  const result = await loadConfigFile(file, readWith({ [join(FIXTURES, "certs/chat.pem")]: "not a pem" }));
  const missing = "No such file or directory (os error 2)";
  assert.deepEqual(result.errors, [
    `${file}:4:17: servers[0].tls[0].cert: "${FIXTURES}/certs/chat.pem" does not look like a PEM file`,
    `${file}:4:38: servers[0].tls[0].key: cannot read "${FIXTURES}/certs/chat.key": ${missing}`,
    `${file}:5:15: servers[0].tls[1].cert: cannot read "/nonexistent/default.pem": ${missing}`,
    `${file}:6:14: servers[0].tls[1].key: cannot read "${FIXTURES}/certs/default.key": ${missing}`,
    `${file}:11:16: upstreams.backend.tls.ca: cannot read "${FIXTURES}/certs/ca.pem": ${missing}`,
  ]);
  assert.equal(result.config, undefined);
});

Deno.test("loadConfigFile fills the PEM text of readable files", async () => {
  const names = ["certs/chat.pem", "certs/chat.key", "certs/default.key", "certs/ca.pem"];
  const pems = Object.fromEntries(names.map((name) => [join(FIXTURES, name), `${PEM}${name}`]));
  pems["/nonexistent/default.pem"] = `${PEM}default.pem`;
  const { config, errors } = await loadConfigFile(join(FIXTURES, "tls.yaml"), readWith(pems));
  assert.deepEqual(errors, []);
  assert.deepEqual(config?.servers[0]?.tls?.map((t) => [t.cert, t.key, t.hosts]), [
    [`${PEM}certs/chat.pem`, `${PEM}certs/chat.key`, ["chat.example.com"]],
    [`${PEM}default.pem`, `${PEM}certs/default.key`, undefined],
  ]);
  assert.equal(config?.upstreams.get("backend")?.tls.ca, `${PEM}certs/ca.pem`);
  assert.equal(config?.source, join(FIXTURES, "tls.yaml"));
});

Deno.test("config.example.yaml is a valid config", async () => {
  const { config, errors } = await loadConfigFile(EXAMPLE, readFile);
  assert.deepEqual(errors, []);
  assert.deepEqual(config?.servers[0]?.listen, [{ transport: "tcp", hostname: "127.0.0.1", port: 8020 }]);
  assert.equal(config?.upstreams.get("app")?.servers[0]?.address, "127.0.0.1:8080");
});

Deno.test("config.example.yaml's commented worked example is valid too", async () => {
  const text = await readFile(EXAMPLE);
  const lines = text.slice(text.indexOf("# Worked example 2")).split("\n").slice(1);
  const end = lines.findIndex((line) => line.startsWith("# ---"));
  const yaml = lines.slice(0, end).map((line) => line.replace(/^# ?/, "")).join("\n");
  const result = await loadConfigObject(parse(yaml), {
    source: "example",
    baseDir: "/etc/wsgate",
    readTextFile: () => Promise.resolve(PEM),
  });
  assert.deepEqual(result.errors, []);
  assert.deepEqual([...result.config!.upstreams.keys()], ["live", "site"]);
  assert.equal(result.config!.servers[0]?.tls?.length, 2);
});

Deno.test("loadConfigObject reports key paths without a location", async () => {
  const raw = {
    servers: [{
      listen: ":8443",
      tls: { cert: "cert.pem", key: "key.pem" },
      routes: [{ path: "/", upstream: "x" }],
    }],
    upstreams: { default: { servers: ["127.0.0.1"] } },
    log: { format: 1 },
  };
  const result = await loadConfigObject(raw, {
    source: "command-line flags",
    baseDir: "/srv",
    readTextFile: readFile,
  });
  assert.deepEqual(result.errors, [
    'servers[0].routes[0].upstream: unknown upstream "x"; defined: default',
    "upstreams.default.servers[0]: missing port (expected host:port, :port, [ipv6]:port or unix:/path)",
    "log.format: must be one of: text, json",
    'servers[0].tls.cert: cannot read "/srv/cert.pem": No such file or directory (os error 2)',
    'servers[0].tls.key: cannot read "/srv/key.pem": No such file or directory (os error 2)',
  ]);
  assert.equal(result.config, undefined);
});

Deno.test("loadConfigObject reads the PEM files of a valid config", async () => {
  const raw = {
    servers: [{
      listen: ":8443",
      tls: { cert: "cert.pem", key: "/keys/key.pem" },
      routes: [{ path: "/", upstream: "a" }],
    }],
    upstreams: { a: { servers: ["127.0.0.1:1"] } },
  };
  const pems: Record<string, string> = { "/srv/cert.pem": `${PEM}cert`, "/keys/key.pem": `${PEM}key` };
  const result = await loadConfigObject(raw, {
    source: "command-line flags",
    baseDir: "/srv",
    readTextFile: (path) => Promise.resolve(pems[path]!),
  });
  assert.deepEqual(result.errors, []);
  assert.equal(result.config?.source, "command-line flags");
  assert.deepEqual(result.config?.servers[0]?.tls, [
    { cert_file: "/srv/cert.pem", key_file: "/keys/key.pem", cert: `${PEM}cert`, key: `${PEM}key` },
  ]);
});
