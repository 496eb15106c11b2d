/**
 * Client certificates (DESIGN §3a), with a CA and client certificates made by openssl at test
 * time: `client_auth: require` and `optional` on the compiled binary (Bun); Deno, which cannot
 * verify them, refuses the key at start. And the other side: an upstream group presenting a client
 * certificate to an `openssl s_server` that requires one, on both runtimes.
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import { CA_PEM, CERTS, eventually, runGateway, startGateway, tempDir, toYaml } from "./_harness.ts";
import { keepAliveBackend, KeptConn, request } from "./_keepalive.ts";
import { ByteReader, bytes, writeAll } from "./_wire.ts";

const ON_BUN = Deno.env.get("WSGATE_BIN") !== undefined;

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/** clients-ca, a client "alice" it signed, and "mallory" signed by a foreign CA: PEM texts. */
async function makeClientPki(dir: string) {
  await Deno.writeTextFile(
    `${dir}/client.ext`,
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
  );
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  for (const ca of ["clients-ca", "foreign-ca"]) {
    await openssl(
      dir,
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${ca}`,
    );
  }
  for (
    const [name, subject, ca] of [["alice", "/CN=alice/O=Example", "clients-ca"], [
      "mallory",
      "/CN=mallory",
      "foreign-ca",
    ]]
  ) {
    await openssl(dir, "req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject!);
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      // A v3 certificate for client authentication (rustls refuses v1 ones).
      "-extfile",
      "client.ext",
    );
  }
  const read = (name: string) => Deno.readTextFileSync(`${dir}/${name}`);
  return {
    ca: read("clients-ca.pem"),
    alice: { cert: read("alice.pem"), key: read("alice.key") },
    mallory: { cert: read("mallory.pem"), key: read("mallory.key") },
  };
}

/** How the listener holds its certificates: one (Bun.listen), or a list chosen by SNI (node:tls on
 * Bun) where `localhost` is the default entry ("fallback") or an entry of its own ("named"). */
type Certs = "one" | "fallback" | "named";

function mtlsConfig(backend: string, mode: "require" | "optional", certs: Certs = "one"): string {
  const main = {
    cert: `${CERTS}localhost.pem`,
    key: `${CERTS}localhost-key.pem`,
    ...(certs === "named" && { hosts: ["localhost"] }),
    client_ca: "clients-ca.pem",
    client_auth: mode,
  };
  const other = { cert: `${CERTS}backend.pem`, key: `${CERTS}backend-key.pem`, hosts: ["backend.test"] };
  return toYaml({
    servers: [{
      listen: ["127.0.0.1:0"],
      tls: certs === "one" ? main : [other, main],
      routes: [{ path: "/", upstream: "app" }],
    }],
    upstreams: { app: { servers: [backend] } },
  });
}

/** A gateway asking for client certificates in front of a backend, with a fresh PKI. The foreign
 * CA stands in for a public root (NODE_EXTRA_CA_CERTS adds it to the runtime's default roots): a
 * context that verified against those instead of client_ca would let mallory in. */
async function mtlsGateway(mode: "require" | "optional", certs: Certs = "one") {
  const backend = keepAliveBackend();
  const tmp = await tempDir();
  const pki = await makeClientPki(tmp.path);
  const gw = await startGateway({
    config: mtlsConfig(backend.address, mode, certs),
    files: { "clients-ca.pem": pki.ca },
    env: { NODE_EXTRA_CA_CERTS: `${tmp.path}/foreign-ca.pem` },
  });
  return {
    backend,
    gw,
    pki,
    async [Symbol.asyncDispose]() {
      await gw[Symbol.asyncDispose]();
      await backend[Symbol.asyncDispose]();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** One GET over TLS, presenting `cert` when given: the answer's status, or the error that ended it. */
async function tlsGet(port: number, cert?: { cert: string; key: string }): Promise<number | string> {
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [CA_PEM], ...cert });
  } catch (err) {
    return (err as Error).message;
  }
  const reader = new ByteReader(conn as unknown as Deno.Conn);
  try {
    await writeAll(conn as unknown as Deno.Conn, bytes(request("/who", ["Connection: close"])));
    const head = await reader.readHead(5_000);
    return head === null ? "closed" : Number(head.split(" ")[1]);
  } catch (err) {
    return (err as Error).message;
  } finally {
    await reader.close();
  }
}

Deno.test({
  name: "mtls: Deno cannot verify client certificates, so it refuses client_ca where it is written",
  ignore: ON_BUN,
  async fn() {
    await using tmp = await tempDir();
    const pki = await makeClientPki(tmp.path);
    await Deno.writeTextFile(`${tmp.path}/clients-ca.pem`, pki.ca);
    await Deno.writeTextFile(`${tmp.path}/wsgate.yaml`, mtlsConfig("127.0.0.1:9", "require"));
    for (const args of [["check", "--config"], ["--config"]]) {
      const result = await runGateway([...args, `${tmp.path}/wsgate.yaml`]);
      assert.equal(result.code, 1, args[0]);
      assert.match(
        result.stderr,
        /wsgate\.yaml:\d+:\d+: servers\[0\]\.tls\.client_ca: client certificates cannot be verified on Deno/,
      );
    }
  },
});

Deno.test({
  name:
    "mtls require: a certificate from client_ca gets in; none, or a foreign one, fails the handshake (tls_failed)",
  ignore: !ON_BUN,
  async fn() {
    await using setup = await mtlsGateway("require");
    const { backend, gw, pki } = setup;
    assert.equal(await tlsGet(gw.port, pki.alice), 200);
    const access = await gw.waitForEvent("access");
    assert.equal(access.fields.client_cert, "CN=alice,O=Example");
    assert.equal(access.fields.client_verified, "true");
    for (const [name, cert] of [["none", undefined], ["foreign", pki.mallory]] as const) {
      const outcome = await tlsGet(gw.port, cert);
      assert.notEqual(outcome, 200, name);
      assert.equal(typeof outcome, "string", `${name}: no HTTP answer (${outcome})`);
    }
    await gw.waitForLine(/tls_failed .*reason=.*(certificate|handshake)/);
    await gw.waitForLine(/tls_failed .*client certificate not verified/);
    assert.equal(backend.requests.length, 1, "only alice's request reached the backend");
  },
});

/** One GET over TLS to 127.0.0.1 with SNI `serverName`, presenting `cert` when given: the answer's
 * status, or the error that ended it (node:tls: Deno.connectTls sends its hostname as the SNI). */
function sniGet(
  port: number,
  serverName: string,
  cert?: { cert: string; key: string },
): Promise<number | string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: serverName, ca: CA_PEM, ...cert });
    let answer = "";
    socket.once("secureConnect", () => socket.write(request("/who", ["Connection: close"])));
    socket.on("data", (chunk: Uint8Array) => answer += new TextDecoder().decode(chunk));
    const timer = setTimeout(() => socket.destroy(new Error("no answer in 10 s")), 10_000);
    socket.once("error", (err: Error) => resolve(err.message));
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(answer ? Number(answer.split(" ")[1]) : "closed");
    });
  });
}

Deno.test({
  name: "mtls require on a listener with several certificates (SNI): the same verdicts",
  ignore: !ON_BUN,
  async fn() {
    await using setup = await mtlsGateway("require", "fallback");
    const { gw, pki } = setup;
    assert.equal(await tlsGet(gw.port, pki.alice), 200);
    assert.equal((await gw.waitForEvent("access")).fields.client_verified, "true");
    assert.equal(typeof await tlsGet(gw.port, pki.mallory), "string");
    assert.equal(typeof await tlsGet(gw.port), "string");
    await eventually(() => gw.records("tls_failed").length === 2, 5_000, "two tls_failed records");
    const reasons = gw.records("tls_failed").map((r) => r.fields.reason).join("\n");
    assert.match(reasons, /verify|not verified/i, "the foreign certificate");
    assert.match(
      reasons,
      /did_not_return_a_certificate|certificate required|none presented/i,
      "no certificate",
    );
  },
});

Deno.test({
  name:
    "mtls require with an SNI name that picks a certificate entry: client_ca still decides, for every entry",
  ignore: !ON_BUN,
  async fn() {
    await using setup = await mtlsGateway("require", "named");
    const { backend, gw, pki } = setup;
    for (const name of ["localhost", "backend.test"]) {
      assert.equal(await sniGet(gw.port, name, pki.alice), 200, `${name}: alice`);
      assert.equal(typeof await sniGet(gw.port, name, pki.mallory), "string", `${name}: mallory`);
      assert.equal(typeof await sniGet(gw.port, name), "string", `${name}: no certificate`);
    }
    await eventually(() => gw.records("tls_failed").length === 4, 5_000, "four tls_failed records");
    assert.equal(backend.requests.length, 2, "only alice's requests reached the backend");
    const access = gw.records("access").map((r) => [r.fields.client_cert, r.fields.client_verified]);
    assert.deepEqual(access, [["CN=alice,O=Example", "true"], ["CN=alice,O=Example", "true"]]);
  },
});

Deno.test({
  name: "mtls optional with an SNI name that picks a certificate entry: verified only for client_ca",
  ignore: !ON_BUN,
  async fn() {
    await using setup = await mtlsGateway("optional", "named");
    const { gw, pki } = setup;
    for (const [i, cert] of [pki.alice, pki.mallory, undefined].entries()) {
      assert.equal(await sniGet(gw.port, "localhost", cert), 200);
      await eventually(() => gw.records("access").length === i + 1, 5_000, "access record");
    }
    const records = gw.records("access").map((r) => [r.fields.client_cert, r.fields.client_verified]);
    assert.deepEqual(records, [["CN=alice,O=Example", "true"], ["CN=mallory", "false"], ["", "false"]]);
  },
});

Deno.test({
  name: "mtls optional: every client gets in; verified says whether a certificate chained to client_ca",
  ignore: !ON_BUN,
  async fn() {
    await using setup = await mtlsGateway("optional");
    const { backend, gw, pki } = setup;
    assert.equal(backend.requests.length, 0);
    for (const [i, cert] of [pki.alice, undefined, pki.mallory].entries()) {
      assert.equal(await tlsGet(gw.port, cert), 200);
      await eventually(() => gw.records("access").length === i + 1, 5_000, "access record");
    }
    const records = gw.records("access").map((r) => [r.fields.client_cert, r.fields.client_verified]);
    assert.deepEqual(records, [["CN=alice,O=Example", "true"], ["", "false"], ["CN=mallory", "false"]]);
    assert.equal(backend.requests.length, 3, "all three reached the backend");
    assert.equal(gw.records("tls_failed").length, 0);
  },
});

/** `openssl s_server` that requires a client certificate from `ca`, answering GET / with its status
 * page; its own certificate is `name`.pem (backend: backend.test; localhost: also IP 127.0.0.1). */
async function requiringBackend(dir: string, caPem: string, name = "backend") {
  await Deno.writeTextFile(`${dir}/require-ca.pem`, caPem);
  const child = new Deno.Command("openssl", {
    args: [
      "s_server",
      "-accept",
      "127.0.0.1:0",
      "-cert",
      `${CERTS}${name}.pem`,
      "-key",
      `${CERTS}${name}-key.pem`,
      "-CAfile",
      `${dir}/require-ca.pem`,
      "-Verify",
      "1",
      "-verify_return_error",
      "-www",
      "-naccept",
      "10",
    ],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  while (!/ACCEPT 127\.0\.0\.1:(\d+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`s_server did not start: ${out}`);
    out += new TextDecoder().decode(value);
  }
  const port = Number(/ACCEPT 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  // Keep draining its output so it never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

Deno.test("mtls upstream: a group with tls { cert, key } gets through a backend that requires a client certificate", async () => {
  await using tmp = await tempDir();
  const pki = await makeClientPki(tmp.path);
  await using backend = await requiringBackend(tmp.path, pki.ca);
  const group = (cert: boolean) => ({
    servers: [`wss://127.0.0.1:${backend.port}`],
    tls: {
      server_name: "backend.test",
      ca: `${CERTS}ca.pem`,
      ...(cert ? { cert: "alice.pem", key: "alice.key" } : {}),
    },
  });
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [{ path: "/", upstream: "with_cert" }, { path: "/anonymous/", upstream: "without" }],
      }],
      upstreams: { with_cert: group(true), without: group(false) },
    }),
    files: { "alice.pem": pki.alice.cert, "alice.key": pki.alice.key },
  });
  await using client = await KeptConn.open(gw.port);
  await client.send("GET / HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n");
  const head = await client.reader.readHead(10_000);
  assert.match(head ?? "", /^HTTP\/1\.1 200 /);
  const page = new TextDecoder().decode(await client.reader.readToEnd(10_000));
  assert.match(page, /alice/, "s_server saw alice's certificate");
  await using anonymous = await KeptConn.open(gw.port);
  await anonymous.send("GET /anonymous/ HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n");
  assert.equal((await anonymous.answer(10_000))?.status, 502);
});

Deno.test("mtls upstream: a wss:// server addressed by IP, no server_name: no SNI, its certificate verified for the IP", async () => {
  // node:tls (Deno's client with a certificate) refuses an IP address as the SNI name.
  await using tmp = await tempDir();
  const pki = await makeClientPki(tmp.path);
  await using backend = await requiringBackend(tmp.path, pki.ca, "localhost");
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
      upstreams: {
        app: {
          servers: [`wss://127.0.0.1:${backend.port}`],
          tls: { ca: `${CERTS}ca.pem`, cert: "alice.pem", key: "alice.key" },
        },
      },
    }),
    files: { "alice.pem": pki.alice.cert, "alice.key": pki.alice.key },
  });
  await using client = await KeptConn.open(gw.port);
  await client.send("GET / HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n");
  const head = await client.reader.readHead(10_000);
  assert.match(head ?? "", /^HTTP\/1\.1 200 /, gw.output());
});
