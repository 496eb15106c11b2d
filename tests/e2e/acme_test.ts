/**
 * Automatic certificates against Let's Encrypt's test CA (pebble) with real HTTP-01 validation
 * through the gateway's plain listener: obtain and serve, restart without the CA, renewal under
 * an open tunnel, an unreachable CA, workers.
 */
import assert from "node:assert/strict";
import { denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { RawWs } from "./_clients.ts";
import { eventually, type Gateway, startGateway, toYaml } from "./_harness.ts";
import { type Pebble, startPebble, TEST_DOMAIN } from "./_pebble.ts";
import { freePort } from "./_ports.ts";
import { parseResponse, rawRequest, text } from "./_wire.ts";

const ISSUE_TIMEOUT_MS = 60_000;

function acmeConfig(options: {
  httpPort: number;
  directory: string;
  ca: string;
  backend: string;
  storage?: string;
  renewBefore?: string;
  domains?: string[];
  /** Without: the account is registered with no contact (orders after the first look it up). */
  email?: string;
  workers?: number;
  /** Fixed for workers (each would get its own port 0). */
  tlsPort?: number;
}): string {
  return toYaml({
    servers: [
      {
        listen: [`127.0.0.1:${options.httpPort}`],
        routes: [{ path: "/", upstream: "app" }],
      },
      {
        listen: [`127.0.0.1:${options.tlsPort ?? 0}`],
        tls: {
          acme: {
            domains: options.domains ?? [TEST_DOMAIN],
            ...(options.email ? { email: options.email } : {}),
            directory: options.directory,
            ca: options.ca,
            ...(options.storage ? { storage: options.storage } : {}),
            ...(options.renewBefore ? { renew_before: options.renewBefore } : {}),
          },
        },
        routes: [{ path: "/", upstream: "app" }],
      },
    ],
    upstreams: { app: { servers: [options.backend] } },
    admin: { listen: "127.0.0.1:0" },
    ...(options.workers ? { workers: options.workers } : {}),
  });
}

/** The TLS listener's port, from its `listening` line (it opens once the certificate exists). */
async function tlsPort(gw: Gateway, timeoutMs = ISSUE_TIMEOUT_MS): Promise<number> {
  const record = await gw.waitForEvent("listening", { transport: "tls" }, timeoutMs);
  const addr = record.fields.addr!;
  return Number(addr.slice(addr.lastIndexOf(":") + 1));
}

/** A wss:// echo through the listener, the chain verified against pebble's root alone (the
 * intermediate must come from the gateway). */
async function openVerified(port: number, ca: Pebble): Promise<RawWs> {
  const { root } = await ca.chain();
  const client = await RawWs.open({ port, tls: { caCerts: [root], hostname: TEST_DOMAIN } });
  assert.equal(client.response.status, 101);
  return client;
}

async function echo(client: RawWs, message: string): Promise<void> {
  await client.sendText(message);
  assert.equal(text((await client.next())!.payload), message);
}

/** The serial number of the certificate a new handshake gets, as openssl sees it. */
async function servedSerial(port: number): Promise<string> {
  const script =
    `echo | openssl s_client -connect 127.0.0.1:${port} -servername ${TEST_DOMAIN} 2>/dev/null ` +
    `| openssl x509 -noout -serial`;
  const out = await new Deno.Command("bash", { args: ["-c", script] }).output();
  const serial = new TextDecoder().decode(out.stdout).trim();
  assert.match(serial, /^serial=[0-9A-F]+$/);
  return sameSerial(serial.slice("serial=".length));
}

/** A serial as one spelling: openssl pads it to whole bytes (06B3...), the log may not (6b3...). */
function sameSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, "");
}

/** A gateway (without email) that obtained its certificate from `ca`, and the serial it serves. */
async function startObtained(ca: Pebble, httpPort: number, backend: string) {
  const base = { httpPort, directory: ca.directory, ca: ca.httpsCa, backend };
  const gw = await startGateway({ config: acmeConfig(base) });
  try {
    await gw.waitForEvent("acme_obtained", {}, ISSUE_TIMEOUT_MS);
    const port = await tlsPort(gw);
    return { base, gw, port, before: await servedSerial(port) };
  } catch (err) {
    await gw[Symbol.asyncDispose]();
    throw err;
  }
}

async function metricsText(gw: Gateway): Promise<string> {
  return text((await gw.admin("GET", "/metrics")).body);
}

Deno.test("acme: obtains over HTTP-01, serves the chain, keeps it across a restart without the CA", async (t) => {
  await using backend = await wsEchoBackend();
  const httpPort = freePort();
  // Pebble's default lifetime (years): not due for renewal, so a restart needs no CA.
  await using ca = await startPebble({ httpPort });
  const dir = await Deno.makeTempDir({ prefix: "wsgate-acme-" });
  const storage = `${dir}/acme`;
  const config = (renewBefore?: string) =>
    acmeConfig({
      httpPort,
      directory: ca.directory,
      ca: ca.httpsCa,
      backend: backend.address,
      storage,
      email: "ops@test.example",
      ...(renewBefore ? { renewBefore } : {}),
    });
  try {
    let firstSerial = "";
    await t.step(
      "obtain: the TLS listener opens with a certificate that verifies, wss:// echoes",
      async () => {
        await using gw = await startGateway({ config: config() });
        await gw.waitForEvent("acme_waiting", {});
        // The CA fetched the token from the plain listener: answered before routing.
        const obtained = await gw.waitForEvent("acme_obtained", { domains: TEST_DOMAIN }, ISSUE_TIMEOUT_MS);
        assert.ok(
          gw.records("access").some((r) => r.fields.answer === "acme-challenge" && r.fields.status === "200"),
        );
        const port = await tlsPort(gw);
        await using client = await openVerified(port, ca);
        await echo(client, "hello over an ACME certificate");
        firstSerial = await servedSerial(port);
        assert.equal(firstSerial, sameSerial(obtained.fields.serial!));
        const expiry = Date.parse(obtained.fields.expires!) / 1000;
        assert.match(
          await metricsText(gw),
          new RegExp(`wsgate_certificate_expiry_seconds\\{domain="${TEST_DOMAIN}"\\} ${expiry}\\b`),
        );
        const status = JSON.parse(text((await gw.admin("GET", "/status.json")).body));
        assert.deepEqual(status.certificates.map((c: { domain: string }) => c.domain), [TEST_DOMAIN]);
        assert.equal(status.certificates[0].expires, new Date(obtained.fields.expires!).toISOString());
        // Private keys: a 0700 folder, 0600 files.
        assert.equal((await Deno.stat(storage)).mode! & 0o777, 0o700);
        for await (const entry of Deno.readDir(storage)) {
          assert.equal((await Deno.stat(`${storage}/${entry.name}`)).mode! & 0o777, 0o600, entry.name);
        }
      },
    );

    await t.step("restart with the CA stopped: the stored certificate is served at once", async () => {
      await ca.stop();
      await using gw = await startGateway({ config: config() });
      await gw.waitForEvent("acme_loaded", { domains: TEST_DOMAIN });
      const port = await tlsPort(gw, 5_000);
      assert.equal(await servedSerial(port), firstSerial);
      assert.equal(gw.records("acme_failed").length, 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("acme: renewal without an email swaps the certificate for new handshakes while an open tunnel keeps echoing", async () => {
  await using backend = await wsEchoBackend();
  const httpPort = freePort();
  await using ca = await startPebble({ httpPort, validitySeconds: 7200 });
  const { base, gw: started, port, before } = await startObtained(ca, httpPort, backend.address);
  await using gw = started;
  await using tunnel = await openVerified(port, ca);
  await echo(tunnel, "before the renewal");

  // renew_before longer than the lifetime: due at once; a reload checks again. The second order
  // finds the contact-less account again (no update the CA would refuse).
  await gw.writeConfig(acmeConfig({ ...base, renewBefore: "30d" }));
  Deno.kill(gw.pid, "SIGHUP");
  const renewed = await gw.waitForEvent("acme_renewed", {}, ISSUE_TIMEOUT_MS);
  assert.equal(gw.records("acme_failed").length, 0);
  await gw.waitForEvent("certificates_swapped", {});
  const after = await servedSerial(port);
  assert.notEqual(after, before);
  assert.equal(after, sameSerial(renewed.fields.serial!));
  await echo(tunnel, "after the renewal, same tunnel");
  await using fresh = await openVerified(port, ca);
  await echo(fresh, "a new tunnel on the new certificate");
});

Deno.test("acme: a reload adding a name that cannot validate keeps the TLS port serving the old certificate", async () => {
  await using backend = await wsEchoBackend();
  const httpPort = freePort();
  await using ca = await startPebble({ httpPort });
  const { base, gw: started, port, before } = await startObtained(ca, httpPort, backend.address);
  await using gw = started;
  await using tunnel = await openVerified(port, ca);

  // dnsmasq resolves only TEST_DOMAIN: pebble cannot validate the new name.
  const domains = [TEST_DOMAIN, "nowhere.example"];
  await gw.writeConfig(acmeConfig({ ...base, domains }));
  Deno.kill(gw.pid, "SIGHUP");
  await gw.waitForEvent("reloaded", {});
  const failed = await gw.waitForEvent("acme_failed", { domains: domains.join(",") }, ISSUE_TIMEOUT_MS);
  assert.match(
    failed.fields.serving!,
    new RegExp(`^previous certificate valid until \\S+ for ${TEST_DOMAIN}$`),
  );
  assert.equal(await servedSerial(port), before);
  await using fresh = await openVerified(port, ca);
  await echo(fresh, "the old certificate, after the reload");
  await echo(tunnel, "an open tunnel, untouched");
  assert.deepEqual(gw.records("listener_closed"), []);
  assert.equal(gw.records("acme_waiting").length, 1);
});

Deno.test("acme: an unreachable directory leaves the gateway running, plain listeners working, acme_failed logged", async () => {
  await using backend = await denoEchoBackend();
  const httpPort = freePort();
  await using gw = await startGateway({
    config: acmeConfig({
      httpPort,
      directory: `https://127.0.0.1:${freePort()}/dir`,
      ca: "ca.pem",
      backend: backend.address,
    }),
    files: { "ca.pem": await Deno.readTextFile(new URL("../fixtures/certs/ca.pem", import.meta.url)) },
  });
  const failed = await gw.waitForEvent("acme_failed", {}, 30_000);
  assert.match(failed.fields.reason!, /ECONNREFUSED/);
  assert.equal(failed.fields.serving, "none");
  assert.ok(Number(failed.fields.retry_in_s) >= 100);
  const answer = parseResponse(
    await rawRequest(httpPort, `GET /plain HTTP/1.1\r\nHost: ${TEST_DOMAIN}\r\nConnection: close\r\n\r\n`),
  );
  assert.equal(answer.status, 200);
  assert.equal(gw.transports.includes("tls"), false);
  // A reload while the TLS listener still waits for its certificate.
  Deno.kill(gw.pid, "SIGHUP");
  await gw.waitForEvent("reloaded", {});
  assert.equal(gw.transports.includes("tls"), false);
  // Not a token it handed out: routed like any request (here to the backend).
  const unknown = parseResponse(
    await rawRequest(
      httpPort,
      `GET /.well-known/acme-challenge/abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    ),
  );
  assert.equal(unknown.status, 200);
  assert.equal(backend.requests.at(-1)!.url, "/.well-known/acme-challenge/abc");
});

Deno.test("acme: with workers, the supervisor obtains and every worker serves the one certificate", async () => {
  await using backend = await wsEchoBackend();
  const httpPort = freePort();
  await using ca = await startPebble({ httpPort });
  const port = freePort();
  await using gw = await startGateway({
    config: acmeConfig({
      httpPort,
      directory: ca.directory,
      ca: ca.httpsCa,
      backend: backend.address,
      workers: 2,
      tlsPort: port,
    }),
    readyTimeoutMs: 20_000,
  });
  const obtained = await gw.waitForEvent("acme_obtained", {}, ISSUE_TIMEOUT_MS);
  // Both workers open their TLS listener once they see the stored certificate.
  const tlsListeners = () => gw.records("listening").filter((r) => r.fields.transport === "tls").length;
  await eventually(() => tlsListeners() === 2, ISSUE_TIMEOUT_MS, "two workers listening with TLS");
  assert.equal(gw.records("acme_obtained").length, 1);
  // Connections spread over both workers: every one gets the same certificate.
  const serials = new Set<string>();
  for (let i = 0; i < 8; i++) serials.add(await servedSerial(port));
  assert.deepEqual([...serials], [sameSerial(obtained.fields.serial!)]);
  await using client = await openVerified(port, ca);
  await echo(client, "through a worker");
  // The supervisor's /metrics: the workers' gauges merged (the oldest certificate served).
  const expiry = Date.parse(obtained.fields.expires!) / 1000;
  await eventually(
    async () =>
      (await metricsText(gw)).includes(
        `wsgate_certificate_expiry_seconds{domain="${TEST_DOMAIN}"} ${expiry}`,
      ),
    10_000,
    "the expiry gauge on the supervisor's /metrics",
  );
});
