/**
 * ACME from the hostile side: request paths aimed at the challenge handler, a storage folder
 * others can read or that is a symlink, and CAs that answer a problem, garbage or too much.
 * Each time the gateway keeps running and says what went wrong.
 */
import assert from "node:assert/strict";
import { denoEchoBackend } from "./_backends.ts";
import { CERTS, runGateway, spawnGatewayIn, startGateway, toYaml } from "./_harness.ts";
import { TEST_DOMAIN } from "./_pebble.ts";
import { freePort } from "./_ports.ts";
import { parseResponse, rawRequest } from "./_wire.ts";

const read = (name: string) => Deno.readTextFileSync(`${CERTS}${name}`);

function config(
  options: { httpPort: number; directory: string; storage?: string; upstream?: string },
): string {
  return toYaml({
    servers: [
      { listen: [`127.0.0.1:${options.httpPort}`], routes: [{ path: "/", upstream: "app" }] },
      {
        listen: ["127.0.0.1:0"],
        tls: {
          acme: {
            domains: [TEST_DOMAIN],
            directory: options.directory,
            ca: "ca.pem",
            ...(options.storage ? { storage: options.storage } : {}),
          },
        },
        routes: [{ path: "/", upstream: "app" }],
      },
    ],
    upstreams: { app: { servers: [options.upstream ?? "127.0.0.1:1"] } },
  });
}

/** An HTTPS server (the fixtures' localhost certificate) standing in for a CA. */
function fakeCa(handler: (request: Request, base: string) => Response | Promise<Response>) {
  let base = "";
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      cert: read("localhost.pem"),
      key: read("localhost-key.pem"),
      onListen() {},
    },
    (request): Response | Promise<Response> => handler(request, base),
  );
  base = `https://127.0.0.1:${server.addr.port}`;
  return { directory: `${base}/dir`, [Symbol.asyncDispose]: () => server.shutdown() };
}

async function failureWith(directory: string): Promise<string> {
  await using gw = await startGateway({
    config: config({ httpPort: freePort(), directory }),
    files: { "ca.pem": read("ca.pem") },
  });
  const failed = await gw.waitForEvent("acme_failed", {}, 45_000);
  assert.equal(gw.records("listening").filter((r) => r.fields.transport === "tls").length, 0);
  return failed.fields.reason!;
}

Deno.test("acme hostile: request paths aimed at the challenge handler are routed (and refused) like any other", async () => {
  await using backend = await denoEchoBackend();
  const httpPort = freePort();
  await using gw = await startGateway({
    config: config({ httpPort, directory: "https://127.0.0.1:1/dir", upstream: backend.address }),
    files: { "ca.pem": read("ca.pem") },
  });
  const get = async (path: string) =>
    parseResponse(
      await rawRequest(httpPort, `GET ${path} HTTP/1.1\r\nHost: ${TEST_DOMAIN}\r\nConnection: close\r\n\r\n`),
    );
  assert.equal((await get("/.well-known/acme-challenge/../x")).status, 400);
  assert.equal((await get("/.well-known/acme-challenge/%2e%2e/%2e%2e/etc/passwd")).status, 400);
  // A token it never handed out: the backend's business (404 there, here an echo).
  assert.equal((await get("/.well-known/acme-challenge/not-pending")).status, 200);
  assert.equal(backend.requests.at(-1)!.url, "/.well-known/acme-challenge/not-pending");
  // A huge "token": longer than a request line may be.
  assert.equal((await get(`/.well-known/acme-challenge/${"A".repeat(10_000)}`)).status, 414);
  assert.equal((await get(`/.well-known/acme-challenge/${"A".repeat(4_000)}`)).status, 200);
  assert.equal(gw.records("access").filter((r) => r.fields.answer === "acme-challenge").length, 0);
});

Deno.test("acme hostile: a storage folder others can read, or a symlink, is a start error and a check error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-acme-storage-" });
  try {
    await Deno.mkdir(`${dir}/open`);
    await Deno.chmod(`${dir}/open`, 0o755);
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${dir}/link`);
    await Deno.writeTextFile(`${dir}/ca.pem`, read("ca.pem"));
    for (
      const [storage, problem] of [["open", /open to other users \(mode 0755\)/], [
        "link",
        /symbolic link/,
      ]] as const
    ) {
      await Deno.writeTextFile(
        `${dir}/wsgate.yaml`,
        config({ httpPort: 0, directory: "https://127.0.0.1:1/dir", storage }),
      );
      const check = await runGateway(["check", "--config", `${dir}/wsgate.yaml`]);
      assert.equal(check.code, 1);
      assert.match(
        check.stderr,
        new RegExp(`servers\\[1\\]\\.tls\\.acme\\.storage: ${dir}/${storage} .*${problem.source}`),
      );
      const gw = spawnGatewayIn(dir, ["--config", "wsgate.yaml"]);
      const failed = await gw.waitForEvent("acme_storage_failed", {}, 10_000);
      assert.match(failed.fields.reason!, problem);
      assert.equal((await gw.exited).code, 1);
    }
    // Nothing was written into either.
    assert.deepEqual([...Deno.readDirSync(`${dir}/real`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("acme hostile: the CA's problem detail is logged", async () => {
  await using ca = fakeCa((request, base) => {
    const path = new URL(request.url).pathname;
    if (path === "/dir") {
      return Response.json({
        newNonce: `${base}/nonce`,
        newAccount: `${base}/account`,
        newOrder: `${base}/order`,
      });
    }
    if (path === "/nonce") return new Response(null, { status: 200, headers: { "Replay-Nonce": "n0nce" } });
    return Response.json(
      { type: "urn:ietf:params:acme:error:unauthorized", detail: "Account creation blocked for this test" },
      { status: 403, headers: { "Content-Type": "application/problem+json", "Replay-Nonce": "n1" } },
    );
  });
  assert.match(await failureWith(ca.directory), /Account creation blocked for this test/);
});

Deno.test("acme hostile: a directory answering garbage, an error or megabytes is a logged failure", async () => {
  await using garbage = fakeCa(() => new Response("<html>not a directory</html>"));
  assert.match(await failureWith(garbage.directory), /Unable to locate API resource URL in ACME directory/);
  await using broken = fakeCa(() => new Response("oops", { status: 500 }));
  assert.match(await failureWith(broken.directory), /returned error 500/);
  await using huge = fakeCa(() => new Response(new Uint8Array(8 << 20).fill(0x7b)));
  assert.match(await failureWith(huge.directory), /maxContentLength/);
});

Deno.test("acme hostile: a directory that never answers times out (30 s) while the gateway serves", async () => {
  // Accepts, completes TLS, reads the request and says nothing.
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: read("localhost.pem"),
    key: read("localhost-key.pem"),
  });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    await using backend = await denoEchoBackend();
    const httpPort = freePort();
    await using gw = await startGateway({
      config: config({
        httpPort,
        directory: `https://127.0.0.1:${listener.addr.port}/dir`,
        upstream: backend.address,
      }),
      files: { "ca.pem": read("ca.pem") },
    });
    const answer = await rawRequest(
      httpPort,
      `GET /meanwhile HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(parseResponse(answer).status, 200);
    const failed = await gw.waitForEvent("acme_failed", {}, 45_000);
    assert.match(failed.fields.reason!, /\/dir: no complete answer within 30 s/);
  } finally {
    listener.close();
    for (const conn of held) conn.close();
  }
});

Deno.test("acme hostile: a directory dripping a byte every 5 s is cut off at 30 s, not at the order's 5 min", async () => {
  const timers = new Set<ReturnType<typeof setInterval>>();
  await using drip = fakeCa(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("{"));
          timers.add(setInterval(() => {
            try {
              controller.enqueue(new TextEncoder().encode(" "));
            } catch { /* the gateway hung up */ }
          }, 5_000));
        },
      }),
      { headers: { "content-type": "application/json" } },
    )
  );
  try {
    const started = Date.now();
    assert.match(await failureWith(drip.directory), /\/dir: no complete answer within 30 s/);
    // Well before the order's own 5 min limit (failureWith waits at most 45 s, after start-up).
    assert.ok(Date.now() - started < 60_000);
  } finally {
    for (const timer of timers) clearInterval(timer);
  }
});

Deno.test("acme hostile: a redirect from the directory to http:// is refused, nothing is sent in the clear", async () => {
  let plainRequests = 0;
  const plain = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    plainRequests++;
    return new Response("{}");
  });
  try {
    await using ca = fakeCa(() =>
      new Response(null, { status: 302, headers: { location: `http://127.0.0.1:${plain.addr.port}/dir` } })
    );
    assert.match(await failureWith(ca.directory), /refused a redirect to http:\/\/ \(ACME is HTTPS only\)/);
    assert.equal(plainRequests, 0);
  } finally {
    await plain.shutdown();
  }
});

Deno.test("acme hostile: no plain listener for HTTP-01 is said at start", async () => {
  const tlsOnly = toYaml({
    servers: [{
      listen: ["127.0.0.1:0"],
      tls: { acme: { domains: [TEST_DOMAIN], directory: "https://127.0.0.1:1/dir" } },
      routes: [{ path: "/", upstream: "app" }],
    }],
    upstreams: { app: { servers: ["127.0.0.1:1"] } },
  });
  await using gw = await startGateway({ config: tlsOnly });
  const warned = await gw.waitForEvent("acme_no_plain_listener", {});
  assert.equal(warned.level, "warn");
  await gw.waitForEvent("acme_failed", {}, 30_000);
});
