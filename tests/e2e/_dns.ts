/**
 * A real DNS server on loopback for the discovery tests: Debian's dnsmasq on a free port,
 * authoritative for `.test` (a name it does not hold is NXDOMAIN), A/AAAA records from a hosts
 * file that setHosts() rewrites and dnsmasq rereads on SIGHUP, SRV records from its config file
 * (setSrv() restarts it on the same port). Installed by scripts/setup_test.sh (Debian package dnsmasq-base).
 */
import { existsSync } from "node:fs";
import { withTimeout } from "./_wire.ts";
import { freePort } from "./_ports.ts";

export interface Srv {
  name: string;
  target: string;
  port: number;
  priority: number;
  weight: number;
}

/** Debian's place for it, which is not on a user's PATH. */
const DNSMASQ = existsSync("/usr/sbin/dnsmasq") ? "/usr/sbin/dnsmasq" : "dnsmasq";

export class Dnsmasq implements AsyncDisposable {
  readonly port: number;
  #dir: string;
  #child: Deno.ChildProcess | undefined;
  #log = "";
  #srv: Srv[];
  #cnames: Record<string, string>;

  private constructor(dir: string, port: number, srv: Srv[], cnames: Record<string, string>) {
    this.#dir = dir;
    this.port = port;
    this.#srv = srv;
    this.#cnames = cnames;
  }

  /** `hosts`: name -> addresses; `srv`: SRV records (their targets need A records in `hosts`);
   * `cnames`: alias -> a name of `hosts`. */
  static async start(
    hosts: Record<string, string[]>,
    srv: Srv[] = [],
    cnames: Record<string, string> = {},
  ): Promise<Dnsmasq> {
    const dir = await Deno.makeTempDir({ prefix: "wsgate-dns-" });
    // dnsmasq started as root reads its files as "nobody".
    await Deno.chmod(dir, 0o755);
    const dns = new Dnsmasq(dir, freePort({ udp: true }), srv, cnames);
    await dns.#writeHosts(hosts);
    await dns.#run();
    return dns;
  }

  /** "127.0.0.1:PORT", for a group's resolver.nameservers. */
  get nameserver(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Replaces every A/AAAA record; resolves once dnsmasq has reread them. */
  async setHosts(hosts: Record<string, string[]>): Promise<void> {
    await this.#writeHosts(hosts);
    const reads = this.#log.split("read ").length;
    this.#child!.kill("SIGHUP");
    await this.#waitForLog(() => this.#log.split("read ").length > reads, "the hosts file reread");
  }

  /** Replaces the SRV records: dnsmasq rereads its config only when restarted. */
  async setSrv(srv: Srv[]): Promise<void> {
    this.#srv = srv;
    await this.stop();
    await this.#run();
  }

  /** Stops answering (a dead name server: connections refused). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    child.kill("SIGTERM");
    await child.status;
  }

  /** Answers again, with the records last set. */
  async restart(): Promise<void> {
    if (!this.#child) await this.#run();
  }

  async #writeHosts(hosts: Record<string, string[]>): Promise<void> {
    const lines = Object.entries(hosts).flatMap(([name, ips]) => ips.map((ip) => `${ip} ${name}`));
    await Deno.writeTextFile(`${this.#dir}/hosts`, lines.join("\n") + "\n", { mode: 0o644 });
  }

  async #run(): Promise<void> {
    const conf = [
      ...this.#srv.map((s) => `srv-host=${s.name},${s.target},${s.port},${s.priority},${s.weight}`),
      ...Object.entries(this.#cnames).map(([alias, target]) => `cname=${alias},${target}`),
    ];
    await Deno.writeTextFile(`${this.#dir}/dnsmasq.conf`, conf.join("\n") + "\n", { mode: 0o644 });
    this.#log = "";
    const child = new Deno.Command(DNSMASQ, {
      args: [
        "--keep-in-foreground",
        `--port=${this.port}`,
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--local=/test/",
        `--addn-hosts=${this.#dir}/hosts`,
        `--conf-file=${this.#dir}/dnsmasq.conf`,
        "--pid-file=",
        "--log-facility=-",
        "--cache-size=0",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) this.#log += chunk;
    })();
    await this.#waitForLog(() => /read .*hosts/.test(this.#log), "dnsmasq started");
  }

  async #waitForLog(done: () => boolean, what: string): Promise<void> {
    await withTimeout(
      (async () => {
        while (!done()) {
          if (!this.#child) throw new Error(`dnsmasq stopped before ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      10_000,
      `${what}\n${this.#log}`,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
