/**
 * ACCEPT: opens the listeners of a configuration, runs their accept loops, keeps the registry
 * of live connections, and shuts down: stop accepting at once, let connections finish for
 * up to shutdown_timeout, then close what is left.
 */
import { describeError, HttpError } from "./errors.ts";
import { formatAddr } from "./net/address.ts";
import { type ConnectionContext, handleConnection } from "./connection.ts";
import { createUpstreamGroups, ServerRecords, type UpstreamGroup } from "./upstream/group.ts";
import { HealthChecks } from "./upstream/health.ts";
import { Discovery } from "./upstream/discovery.ts";
import { type LiveTraffic, Watchdog, type WatchedTunnel } from "./tunnel/watchdog.ts";
import { Metrics } from "./observe/metrics.ts";
import { Limits } from "./admit/limits.ts";
import { AuthRegistry } from "./admit/auth/route_auth.ts";
import {
  type AcmeLookup,
  certificatesDiffer,
  diffPlans,
  planListeners,
  type PlannedListener,
} from "./process/listen_plan.ts";
import type { ChallengeLookup } from "./tls/acme/http01.ts";
import { IdleClients } from "./passthrough/idle_clients.ts";
import type { Config } from "./config/schema.ts";
import type { Logger } from "./observe/log.ts";
import type { Addr, Conn, Listener, Net } from "./runtime/types.ts";
import type { NameserverAddr } from "./net/nameserver.ts";
import { ownAddresses } from "./net/own_address.ts";

/** After an accept error (EMFILE...), wait before trying again instead of spinning. */
const ACCEPT_BACKOFF_MS = 100;

/** One configuration's live objects, shared by the connections accepted under it. Tunnels keep
 * the generation they started with; once the last one ends, the old generation is garbage. */
interface Generation {
  config: Config;
  upstreams: Map<string, UpstreamGroup>;
  /** Aborted when a reload replaces it or shutdown starts: kept-alive connections stop taking requests. */
  retired: AbortController;
  auth: AuthRegistry;
}

interface OpenListener {
  listener: Listener;
  planned: PlannedListener;
  /** What its connections share, built once per configuration generation. */
  context?: { generation: Generation; ctx: ConnectionContext };
}

export class Gateway {
  #net: Net;
  #logger: Logger;
  #generation: Generation;
  #plan: Map<string, PlannedListener>;
  #listeners = new Map<string, OpenListener>();
  /** Connections being handled (handshakes and tunnels): no promise of their own while they live. */
  #live = new Set<Conn>();
  /** Called when #live becomes empty, while shutdown waits for that. */
  #allClosed: (() => void) | undefined;
  /** Aborted when draining starts: frame-tracking tunnels send Close 1001 then, not at the timeout. */
  #drain = new AbortController();
  /** Aborted at shutdown_timeout: handshakes still waiting for an upstream give up then. */
  #stopping = new AbortController();
  #watchdog = new Watchdog();
  /** Kept-alive client connections waiting for a request, across generations. */
  #idleClients = new IdleClients();
  #nextId = 1;
  /** Connections over so far (with #nextId: the churn lib/process/quiet_gc.ts watches). */
  #ended = 0;
  #draining = false;
  #reusePort: boolean;
  /** Active health checks of the current generation's upstream groups, from start() on. */
  #health: HealthChecks | undefined;
  /** Counters and gauges of this process, read by the admin endpoints. */
  readonly metrics: Metrics;
  /** Connection counts and handshake rates per client IP; they carry over reloads. */
  #limits: Limits;
  /** Per upstream server address: open leases, failures, health, drains; they carry over reloads
   * and DNS changes. */
  #records = new ServerRecords();
  #discovery: Discovery;
  /** ACME certificates (lib/tls/acme/): what a server block has now, and HTTP-01 tokens. */
  #acme: { certificate: AcmeLookup; challenge: ChallengeLookup } | undefined;
  /** certificatesChanged() calls, one after the other. */
  #swapping = Promise.resolve();
  /** Where the admin listener is bound (adminListening()), for DNS answers naming it. */
  #adminAddrs: Addr[] = [];

  constructor(
    net: Net,
    config: Config,
    logger: Logger,
    options: {
      reusePort: boolean;
      systemNameservers?: () => Promise<NameserverAddr[]>;
      acme?: { certificate: AcmeLookup; challenge: ChallengeLookup };
      /** Shared with what records outside the data path (ACME's certificate expiry). */
      metrics?: Metrics;
    },
  ) {
    this.metrics = options.metrics ?? new Metrics();
    this.#net = net;
    this.#logger = logger;
    this.#reusePort = options.reusePort;
    this.#acme = options.acme;
    this.#discovery = new Discovery(net, {
      logger,
      metrics: this.metrics,
      systemNameservers: options.systemNameservers ?? (() => Promise.resolve([])),
      // The first groups are made (and ask) before the first generation exists.
      ownAddresses: () =>
        ownAddresses(this.#generation?.config ?? config, [...this.addrs, ...this.#adminAddrs]),
    });
    this.#generation = {
      config,
      upstreams: this.#createGroups(config),
      retired: new AbortController(),
      auth: new AuthRegistry(config, { net, logger }),
    };
    this.#plan = planListeners(config, this.#acme?.certificate);
    this.#limits = new Limits(config.limits);
  }

  /** The bound addresses (real ports when 0 was asked for). */
  get addrs(): Addr[] {
    return [...this.#listeners.values()].map((l) => l.listener.addr);
  }

  /** The admin listener (served beside the gateway) is bound at `addr`. */
  adminListening(addr: Addr): void {
    this.#adminAddrs = [addr];
  }

  /** What is listening, for the status page. */
  get listeners(): { addr: Addr; transport: "tcp" | "tls" | "unix" }[] {
    return [...this.#listeners.values()].map(({ listener, planned }) => ({
      addr: listener.addr,
      transport: listener.addr.transport === "unix" ? "unix" : planned.tls.length ? "tls" : "tcp",
    }));
  }

  get config(): Config {
    return this.#generation.config;
  }

  get upstreams(): ReadonlyMap<string, UpstreamGroup> {
    return this.#generation.upstreams;
  }

  /** True from the moment shutdown starts. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Opens every listener or none: a bind failure closes those already open and throws. DNS
   * names are looked up first, so the first connections have their servers. */
  async start(): Promise<void> {
    await this.#discovery.follow(this.#generation.upstreams, this.#serversChanged);
    try {
      for (const planned of this.#plan.values()) await this.#open(planned);
    } catch (err) {
      this.#closeListeners();
      this.#discovery.stop();
      throw err;
    }
    this.#health = new HealthChecks(this.#net, { logger: this.#logger });
    this.#health.sync(this.#generation.upstreams);
  }

  #createGroups(config: Config): Map<string, UpstreamGroup> {
    return createUpstreamGroups(config, {
      logger: this.#logger,
      records: this.#records,
      discovered: (group) => this.#discovery.serversFor(group),
    });
  }

  /** The servers of a group changed (DNS, a reload): check the new ones, forget the idle gone. */
  #serversChanged = (): void => {
    const upstreams = this.#generation.upstreams;
    this.#health?.sync(upstreams);
    const named = [...upstreams.values()].flatMap((g) => g.servers.map((s) => s.record));
    this.#records.prune(new Set(named), Date.now());
  };

  async #open(planned: PlannedListener): Promise<void> {
    const { addr, tls, clientAuth } = planned;
    if (planned.tlsExpected && tls.length === 0) {
      // Refused until the first certificate exists (docs/configuration.md, Automatic certificates).
      this.#logger.log("info", "acme_waiting", {
        addr: formatAddr(addr),
        note: "opens once it has a certificate",
      });
      return;
    }
    const listener = await this.#net.listen({
      addr,
      reusePort: this.#reusePort && addr.transport === "tcp",
      ...(tls.length ? { tls } : {}),
      ...(planned.swappable ? { swappable: true } : {}),
      ...(clientAuth ? { clientAuth } : {}),
    }).catch((err) => {
      throw new Error(`cannot listen on ${formatAddr(addr)}`, { cause: err });
    });
    const entry = { listener, planned };
    this.#listeners.set(planned.key, entry);
    const transport = listener.addr.transport === "unix" ? "unix" : tls.length ? "tls" : "tcp";
    this.#logger.log("info", "listening", { addr: formatAddr(listener.addr), transport });
    this.#acceptLoop(entry);
  }

  /**
   * Switches new connections to `config`. Established connections keep the configuration they
   * started with. Listeners that stay the same keep their sockets; new ones are opened first,
   * and if one cannot be opened nothing changes and this throws.
   */
  async reload(config: Config): Promise<void> {
    const plan = planListeners(config, this.#acme?.certificate);
    const diff = diffPlans(this.#plan, plan);
    const fresh = diff.open.filter((p) => !this.#listeners.has(p.key));
    const opened: string[] = [];
    try {
      for (const planned of fresh) {
        await this.#open(planned);
        opened.push(planned.key);
      }
    } catch (err) {
      for (const key of opened) this.#closeListener(key);
      throw err;
    }
    const upstreams = this.#createGroups(config);
    this.#health?.stop();
    this.#health = new HealthChecks(this.#net, { logger: this.#logger });
    const auth = new AuthRegistry(config, {
      net: this.#net,
      logger: this.#logger,
      previous: this.#generation.auth,
    });
    retire(this.#generation);
    this.#generation = { config, upstreams, retired: new AbortController(), auth };
    this.#serversChanged();
    // Groups start from the last answers; their names are looked up again at once.
    void this.#discovery.follow(upstreams, this.#serversChanged);
    this.#limits.update(config.limits);
    this.#plan = plan;
    for (const planned of diff.keep) {
      const entry = this.#listeners.get(planned.key);
      // Its certificates are what the socket serves until certificatesChanged() (below) swaps them.
      if (entry) entry.planned = { ...planned, tls: entry.planned.tls };
    }
    for (const key of diff.close) this.#closeListener(key);
    // Same address, other certificates: the old socket had to go before the new one can bind.
    for (const planned of diff.open.filter((p) => !fresh.includes(p))) await this.#open(planned);
    await this.certificatesChanged();
  }

  /**
   * An ACME certificate appeared or was renewed: listeners that waited for one open, running
   * ones serve it to new handshakes. Open connections are not touched.
   */
  certificatesChanged(): Promise<void> {
    const swap = async () => {
      const plan = planListeners(this.#generation.config, this.#acme?.certificate);
      for (const planned of plan.values()) {
        const entry = this.#listeners.get(planned.key);
        if (!entry) {
          if (planned.tls.length > 0 && this.#plan.has(planned.key) && !this.#draining) {
            await this.#open(planned);
          }
          continue;
        }
        if (!certificatesDiffer(entry.planned, planned)) continue;
        await entry.listener.setCertificates?.(planned.tls);
        entry.planned = planned;
        this.#logger.log("info", "certificates_swapped", { addr: formatAddr(entry.listener.addr) });
      }
      this.#plan = plan;
    };
    this.#swapping = this.#swapping.then(swap).catch((err) => {
      this.#logger.log("error", "certificates_swap_failed", { reason: describeError(err) });
    });
    return this.#swapping;
  }

  async #acceptLoop(entry: OpenListener): Promise<void> {
    const { listener } = entry;
    let failing = false;
    while (true) {
      let conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        // Log once per run of failures, not once per retry.
        if (!failing) this.#logger.log("error", "accept_failed", { reason: describeError(err) });
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_BACKOFF_MS));
        continue;
      }
      if (conn === null) return;
      if (failing) this.#logger.log("info", "accept_recovered", { addr: formatAddr(listener.addr) });
      failing = false;
      const ctx = this.#contextFor(entry);
      this.metrics.connectionAccepted(entry.planned.key);
      this.#live.add(conn);
      // Settles at the end of the handshake phase; a tunnel's end comes through tunnelClosed.
      handleConnection(conn, this.#nextId++, ctx).then(
        (tunnelled) => tunnelled || this.#closed(conn),
        (err) => {
          this.#logger.log("error", "internal_error", { reason: describeError(err) });
          this.#closed(conn);
        },
      );
    }
  }

  /** A connection is over (called again for one already gone: nothing happens). */
  #closed = (conn: Conn): void => {
    if (!this.#live.delete(conn)) return;
    this.#ended++;
    if (this.#live.size === 0) this.#allClosed?.();
  };

  /** Resolves once no connection is left. */
  #liveClosed(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#allClosed = resolve);
  }

  /** Looked up per connection: a reload switches what the next connection gets. Shared by the
   * connections of one generation, since every open tunnel holds on to it. */
  #contextFor(entry: OpenListener): ConnectionContext {
    const generation = this.#generation;
    if (entry.context?.generation === generation) return entry.context.ctx;
    const ctx: ConnectionContext = {
      net: this.#net,
      config: generation.config,
      servers: entry.planned.servers,
      upstreams: generation.upstreams,
      tls: entry.planned.tls.length > 0,
      logger: this.#logger,
      watchdog: this.#watchdog,
      drain: this.#drain.signal,
      stopping: this.#stopping.signal,
      closeSpread: generation.config.close_spread ?? 0,
      metrics: this.metrics,
      limits: this.#limits,
      proxyProtocol: entry.planned.servers.some((s) => s.proxy_protocol),
      auth: generation.auth,
      ...(this.#acme && !entry.planned.tlsExpected ? { acmeChallenge: this.#acme.challenge } : {}),
      retired: generation.retired.signal,
      idleClients: this.#idleClients,
      tunnelClosed: this.#closed,
    };
    entry.context = { generation, ctx };
    return ctx;
  }

  #closeListener(key: string): void {
    const entry = this.#listeners.get(key);
    if (!entry) return;
    entry.listener.close();
    this.#listeners.delete(key);
    this.#logger.log("info", "listener_closed", { addr: formatAddr(entry.listener.addr) });
  }

  #closeListeners(): void {
    for (const key of [...this.#listeners.keys()]) this.#closeListener(key);
  }

  /** Stops accepting, waits up to `timeoutMs` for live connections, then closes them. */
  async shutdown(timeoutMs: number): Promise<{ forced: number }> {
    this.#draining = true;
    this.#drain.abort();
    // Idle kept-alive connections close now, busy ones after their answer.
    retire(this.#generation);
    this.#closeListeners();
    this.#health?.stop();
    this.#discovery.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const drained = this.#liveClosed().then(() => false);
    const timedOut = await Promise.race([drained, expired]);
    clearTimeout(timer);
    const forced = timedOut ? this.#live.size : 0;
    if (timedOut) {
      // Tunnels record "shutdown" as their reason; handshakes in progress are simply closed.
      this.#watchdog.abortAll("shutdown");
      this.#stopping.abort(new HttpError(503, "gateway shutting down"));
      for (const conn of this.#live) conn.close();
      await this.#liveClosed();
    }
    return { forced };
  }

  /** Bytes moved so far by tunnels still open (closed ones are already in the metrics). */
  liveTraffic(): LiveTraffic {
    return this.#watchdog.liveTraffic();
  }

  /** The open tunnels, in the order they opened (GET /tunnels.json). */
  openTunnels(): Iterable<WatchedTunnel> {
    return this.#watchdog.open();
  }

  /** The open tunnel of connection `id` (the access log's id), for POST /tunnels/{id}/close. */
  findTunnel(id: number): WatchedTunnel | undefined {
    return this.#watchdog.find(id);
  }

  /** Connections being handled right now (handshakes and tunnels). */
  get liveConnections(): number {
    return this.#live.size;
  }

  /** Connections accepted plus connections over, since the start. */
  get connectionEvents(): number {
    return this.#nextId - 1 + this.#ended;
  }
}

/** A generation takes no more requests on kept-alive connections and keeps no idle upstream ones. */
function retire(generation: Generation): void {
  generation.retired.abort();
  for (const group of generation.upstreams.values()) group.retire();
}
