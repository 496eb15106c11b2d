/**
 * Let's Encrypt's test CA (Debian's `pebble`) and a DNS server (Debian's `dnsmasq`) on loopback,
 * for the ACME tests: pebble validates HTTP-01 challenges for real, by resolving the test domain
 * through dnsmasq to 127.0.0.1 and fetching the token from the port the gateway listens on.
 * Both are killed by `[Symbol.asyncDispose]`.
 */
import { CERTS, REPO } from "./_harness.ts";
import { existsSync } from "node:fs";
import { withTimeout } from "./_wire.ts";
import { freePort } from "./_ports.ts";

/** Resolved by dnsmasq (for pebble) to 127.0.0.1. */
export const TEST_DOMAIN = "test.example";

export interface PebbleOptions {
  /** Where pebble sends HTTP-01 validations (the gateway's plain listener). */
  httpPort: number;
  /** Lifetime of the certificates it issues (pebble's default: about 5 years). */
  validitySeconds?: number;
}

export class Pebble implements AsyncDisposable {
  /** The ACME directory URL. */
  readonly directory: string;
  /** Trust for pebble's own HTTPS (its listener uses the fixtures' localhost certificate). */
  readonly httpsCa = `${CERTS}ca.pem`;
  readonly #management: number;
  readonly #children: Deno.ChildProcess[];
  readonly #dir: string;

  constructor(port: number, management: number, children: Deno.ChildProcess[], dir: string) {
    this.directory = `https://127.0.0.1:${port}/dir`;
    this.#management = management;
    this.#children = children;
    this.#dir = dir;
  }

  /** Pebble's root and intermediate, fetched from its management port (new at every start). */
  async chain(): Promise<{ root: string; intermediate: string }> {
    const client = Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(this.httpsCa)] });
    try {
      const get = async (path: string) => {
        const response = await fetch(`https://127.0.0.1:${this.#management}${path}`, { client });
        if (!response.ok) throw new Error(`pebble ${path}: ${response.status}`);
        return await response.text();
      };
      return { root: await get("/roots/0"), intermediate: await get("/intermediates/0") };
    } finally {
      client.close();
    }
  }

  /** Stops the CA (and its DNS server), e.g. to show that a restart needs neither. */
  async stop(): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** Starts dnsmasq and pebble; resolves once pebble answers its directory. */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-pebble-" });
  const dnsPort = freePort({ udp: true }); // dnsmasq binds both
  const port = freePort();
  const management = freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${management}`,
      certificate: `${CERTS}localhost.pem`,
      privateKey: `${CERTS}localhost-key.pem`,
      httpPort: options.httpPort,
      // TLS-ALPN-01 is not offered by wsgate; a port nothing listens on.
      tlsPort: freePort(),
      ocspResponderURL: "",
      externalAccountBindingRequired: false,
      ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
    },
  };
  await Deno.writeTextFile(`${dir}/pebble.json`, JSON.stringify(config));
  const quiet = { stdin: "null", stdout: "null", stderr: "piped" } as const;
  // Debian puts it in /usr/sbin, which a non-root PATH may lack.
  const dns = new Deno.Command(existsSync("/usr/sbin/dnsmasq") ? "/usr/sbin/dnsmasq" : "dnsmasq", {
    args: [
      "--no-daemon",
      "--no-resolv",
      "--no-hosts",
      `--port=${dnsPort}`,
      `--address=/${TEST_DOMAIN}/127.0.0.1`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      `--pid-file=${dir}/dnsmasq.pid`,
    ],
    ...quiet,
  }).spawn();
  const pebble = new Deno.Command("pebble", {
    args: ["-config", `${dir}/pebble.json`, "-dnsserver", `127.0.0.1:${dnsPort}`],
    cwd: REPO,
    env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" },
    ...quiet,
  }).spawn();
  const ca = new Pebble(port, management, [pebble, dns], dir);
  try {
    await withTimeout(waitForDirectory(ca), 15_000, "pebble's directory");
  } catch (err) {
    await ca[Symbol.asyncDispose]();
    throw err;
  }
  return ca;
}

async function waitForDirectory(ca: Pebble): Promise<void> {
  const client = Deno.createHttpClient({ caCerts: [Deno.readTextFileSync(ca.httpsCa)] });
  try {
    while (true) {
      try {
        const response = await fetch(ca.directory, { client });
        await response.body?.cancel();
        if (response.ok) return;
      } catch { /* not up yet */ }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    client.close();
  }
}
