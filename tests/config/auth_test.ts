import assert from "node:assert/strict";
import { loadConfigFile } from "../../lib/config/load.ts";
import { parseHttpUrl, parseTokenSource } from "../../lib/config/auth.ts";
import { Invalid } from "../../lib/config/reader.ts";
import { describeConfig } from "../../lib/config/summary.ts";

const PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";
const JWKS = JSON.stringify({ keys: [{ kty: "RSA", n: "x", e: "AQAB", kid: "a" }] });

/** `auth` (YAML lines, indented under the route) as /cfg/wsgate.yaml; `files` beside it. */
function load(auth: string, files: Record<string, string> = {}) {
  const yaml = `servers:
  - listen: "127.0.0.1:8020"
    routes:
      - path: /
        upstream: app
        auth:
${auth.replace(/^/gm, "          ")}
upstreams:
  app: { servers: ["127.0.0.1:8080"] }
`;
  return loadConfigFile("/cfg/wsgate.yaml", (path) => {
    if (path === "/cfg/wsgate.yaml") return Promise.resolve(yaml);
    const name = path.slice("/cfg/".length);
    if (name in files) return Promise.resolve(files[name]!);
    return Promise.reject(new Error(`No such file or directory (os error 2): readfile '${path}'`));
  });
}

Deno.test("auth config: a full jwt and forward section loads with its defaults", async () => {
  const result = await load(
    `jwt:
  keys: [jwks.json, ec.pem]
  secret_file: hs.key
  algorithms: [RS256, ES256, HS256]
  token_from: ["header:Authorization", "query:access_token", "cookie:token", "protocol:base64url.bearer.authorization.k8s.io."]
  claims_to_headers: { X-User-Id: sub }
  close_at_expiry: true
forward:
  url: https://auth.internal:8443/check?x=1
  pass_headers: [Authorization]
  copy_headers: [X-User-Id]`,
    { "jwks.json": JWKS, "ec.pem": PEM, "hs.key": `${"s".repeat(32)}\n` },
  );
  assert.deepEqual(result.errors, []);
  const auth = result.config!.servers[0]!.routes[0]!.auth!;
  assert.deepEqual(auth.jwt!.keys.map((k) => k.kind), ["jwks", "pem"]);
  assert.equal(auth.jwt!.secret, "s".repeat(32));
  assert.equal(auth.jwt!.strip_token, true);
  assert.equal(auth.jwt!.leeway, 0);
  assert.deepEqual(auth.jwt!.claims_to_headers, [["X-User-Id", "sub"]]);
  assert.deepEqual(auth.jwt!.token_from[3], {
    from: "protocol",
    prefix: "base64url.bearer.authorization.k8s.io.",
  });
  const forward = auth.forward!;
  assert.deepEqual([forward.host, forward.target, forward.tls?.serverName], [
    "auth.internal:8443",
    "/check?x=1",
    "auth.internal",
  ]);
  assert.deepEqual([forward.timeout, forward.cache, forward.pass_headers], [2_000, 0, ["authorization"]]);
  assert.ok(describeConfig(result.config!).includes("  route / -> app (auth=jwt+forward)"));
});

Deno.test("auth config: every problem at once, each at its line and column", async () => {
  const result = await load(
    `jwt:
  keys: [priv.pem, secret.json]
  algorithms: [RS256, none, HS999, HS256]
  token_from: ["header:Bad Name", "body:x"]
  claims_to_headers: { Connection: sub, X-Ok: 7 }
  jwks_url: http://id.example.com/jwks
forward:
  url: ftp://auth
  copy_headers: [Sec-WebSocket-Protocol]
  timeout: 0s`,
    {
      "priv.pem": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
      "secret.json": JSON.stringify({ keys: [{ kty: "oct", k: "abc" }] }),
    },
  );
  const f = "/cfg/wsgate.yaml";
  const jwt = "servers[0].routes[0].auth.jwt";
  const forward = "servers[0].routes[0].auth.forward";
  assert.deepEqual(result.errors, [
    `${f}:8:20: ${jwt}.keys[0]: "/cfg/priv.pem" holds a private key; give the public key (openssl pkey -pubout)`,
    `${f}:8:30: ${jwt}.keys[1]: "/cfg/secret.json" keys[0] is a shared secret (kty "oct"); HMAC secrets go in secret_file`,
    `${f}:9:25: ${jwt}.algorithms: HS256/384/512 need secret_file (a public key is never used as an HMAC secret)`,
    `${f}:9:33: ${jwt}.algorithms[1]: "none" is never accepted (an unsigned token proves nothing)`,
    `${f}:9:39: ${jwt}.algorithms[2]: unknown algorithm "HS999"; expected one of: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519, HS256, HS384, HS512`,
    `${f}:10:26: ${jwt}.token_from[0]: invalid header name "Bad Name"`,
    `${f}:10:45: ${jwt}.token_from[1]: unknown token source "body:"; expected header:, query:, cookie: or protocol:`,
    `${f}:11:34: ${jwt}.claims_to_headers.Connection: "Connection" is set by the gateway itself and cannot be replaced`,
    `${f}:11:57: ${jwt}.claims_to_headers.X-Ok: must be a claim name (sub, email, ...)`,
    `${f}:12:23: ${jwt}.jwks_url: must be an https:// URL (keys fetched in the clear could be swapped)`,
    `${f}:14:18: ${forward}.url: must be an http://, https:// or unix: URL`,
    `${f}:15:28: ${forward}.copy_headers[0]: "Sec-WebSocket-Protocol" is set by the gateway itself and cannot be replaced`,
    `${f}:16:22: ${forward}.timeout: must be greater than 0`,
  ]);
});

Deno.test("auth config: keys, secret and algorithms must fit together", async () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ["jwt:\n  algorithms: [RS256]", {}, /auth\.jwt: algorithms RS256 need keys or jwks_url/],
    [
      "jwt:\n  keys: [k.pem]\n  algorithms: [HS256]\n  secret_file: s",
      { "k.pem": PEM, s: "x".repeat(40) },
      /lists no public-key algorithm/,
    ],
    [
      "jwt:\n  keys: [k.pem]\n  algorithms: [RS256]\n  secret_file: s",
      { "k.pem": PEM, s: "x".repeat(40) },
      /secret_file: is only used by HS256/,
    ],
    [
      "jwt:\n  secret_file: s\n  algorithms: [HS256]",
      { s: "short\n" },
      /"\/cfg\/s" is shorter than 32 bytes/,
    ],
    [
      "jwt:\n  keys: [k.txt]\n  algorithms: [RS256]",
      { "k.txt": "hello" },
      /is neither a JWKS \(JSON\) nor a PEM public key/,
    ],
    ["jwt:\n  keys: [k.json]\n  algorithms: [RS256]", { "k.json": "{ nope" }, /is not valid JSON/],
    [
      "jwt:\n  keys: [k.pem]\n  algorithms: [RS256]\n  jwks_refetch: 10s",
      { "k.pem": PEM },
      /jwks_refetch: needs jwks_url/,
    ],
    [
      "jwt:\n  jwks_url: https://id/jwks\n  jwks_refetch: 100ms\n  algorithms: [RS256]",
      {},
      /must be at least 1s/,
    ],
    ["{}", {}, /auth: needs "jwt", "forward" or both/],
    [
      "jwt:\n  keys: [k.pem]\n  algorithms: [RS256]\n  tokens_from: [x]",
      { "k.pem": PEM },
      /unknown key "tokens_from"; did you mean "token_from"\?/,
    ],
  ];
  for (const [auth, files, error] of cases) {
    const result = await load(auth, files);
    assert.equal(result.config, undefined, auth);
    assert.ok(result.errors.some((e) => error.test(e)), `${auth}\n${result.errors.join("\n")}`);
  }
});

Deno.test("parseTokenSource and parseHttpUrl", () => {
  assert.deepEqual(parseTokenSource("query:t"), { from: "query", name: "t" });
  assert.deepEqual(parseTokenSource("protocol:bearer."), { from: "protocol", prefix: "bearer." });
  for (const bad of ["query", "query:", "query:a=b", "cookie:a;b", "protocol:a b", "x:y"]) {
    assert.ok(parseTokenSource(bad) instanceof Invalid, bad);
  }
  assert.deepEqual(parseHttpUrl("http://127.0.0.1:9000"), {
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 9000 },
    tls: false,
    hostname: "127.0.0.1",
    host: "127.0.0.1:9000",
    target: "/",
  });
  assert.equal((parseHttpUrl("unix:/run/auth.sock") as { target: string }).target, "/");
  for (const bad of ["http://u:p@h/", "http://h/a b", "ftp://h/", "http://h:99999/"]) {
    assert.ok("error" in parseHttpUrl(bad), bad);
  }
});

Deno.test("config.example.yaml's commented auth block is a valid route section", async () => {
  const text = await Deno.readTextFile(new URL("../../config.example.yaml", import.meta.url));
  const lines = text.split("\n");
  const start = lines.findIndex((line) => line === "        # auth:");
  const block: string[] = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith("        #")) break;
    block.push(line.slice("        # ".length));
  }
  const auth = block.slice(1).map((line) => line.slice(2)).join("\n");
  const result = await load(auth, { "keys/jwks.json": JWKS, "keys/rsa.pub.pem": PEM });
  assert.deepEqual(result.errors, []);
  const route = result.config!.servers[0]!.routes[0]!;
  assert.deepEqual(route.auth!.jwt!.token_from.length, 4);
  assert.equal(route.auth!.forward!.url, "http://127.0.0.1:9000/check");
});
