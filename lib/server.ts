/**
 * ACCEPT: opens the listeners of a configuration, runs their accept loops, keeps the registry
 * of live connections, and shuts down: stop accepting at once, let connections finish for
 * up to shutdown_timeout, then close what is left.
 */
import { describeError } from "./errors.ts";
import { formatAddr } from "./config/address.ts";
import { handleConnection } from "./connection.ts";
import { createUpstreamGroups, type UpstreamGroup } from "./upstream.ts";
import { Watchdog } from "./watchdog.ts";
import type { Config, ServerConfig } from "./config/schema.ts";
import type { Logger } from "./log.ts";
import type { Addr, Conn, Listener, Runtime, TlsCertificate } from "./runtime/types.ts";

/** Listen addresses with the server blocks that share them (like nginx, by Host). */
function groupByListenAddress(
  servers: readonly ServerConfig[],
): Map<string, { addr: Addr; servers: ServerConfig[] }> {
  const groups = new Map<string, { addr: Addr; servers: ServerConfig[] }>();
  for (const server of servers) {
    for (const addr of server.listen) {
      const key = formatAddr(addr);
      const group = groups.get(key) ?? { addr, servers: [] };
      group.servers.push(server);
      groups.set(key, group);
    }
  }
  return groups;
}

function certificates(servers: readonly ServerConfig[]): TlsCertificate[] {
  return servers.flatMap((server) =>
    (server.tls ?? []).map((c) => ({
      cert: c.cert,
      key: c.key,
      ...(c.hosts ?? server.hosts ? { serverNames: c.hosts ?? server.hosts } : {}),
    }))
  );
}

/** After an accept error (EMFILE...), wait before trying again instead of spinning. */
const ACCEPT_BACKOFF_MS = 100;

export class Gateway {
  #runtime: Runtime;
  #config: Config;
  #logger: Logger;
  #upstreams: Map<string, UpstreamGroup>;
  #listeners: Listener[] = [];
  #live = new Map<Conn, Promise<void>>();
  #shutdown = new AbortController();
  #watchdog = new Watchdog();
  #nextId = 1;

  constructor(runtime: Runtime, config: Config, logger: Logger) {
    this.#runtime = runtime;
    this.#config = config;
    this.#logger = logger;
    this.#upstreams = createUpstreamGroups(config);
  }

  /** The bound addresses, in the order opened (real ports when 0 was asked for). */
  get addrs(): Addr[] {
    return this.#listeners.map((l) => l.addr);
  }

  /** Opens every listener or none: a bind failure closes those already open and throws. */
  async start(): Promise<void> {
    try {
      for (const { addr, servers } of groupByListenAddress(this.#config.servers).values()) {
        const tls = certificates(servers);
        const listener = await this.#runtime.listen({ addr, ...(tls.length ? { tls } : {}) });
        this.#listeners.push(listener);
        const transport = listener.addr.transport === "unix" ? "unix" : tls.length ? "tls" : "tcp";
        this.#logger.log("info", "listening", { addr: formatAddr(listener.addr), transport });
        this.#acceptLoop(listener, servers, tls.length > 0);
      }
    } catch (err) {
      this.#closeListeners();
      throw err;
    }
  }

  async #acceptLoop(listener: Listener, servers: ServerConfig[], tls: boolean): Promise<void> {
    const ctx = {
      runtime: this.#runtime,
      config: this.#config,
      servers,
      upstreams: this.#upstreams,
      tls,
      logger: this.#logger,
      watchdog: this.#watchdog,
      signal: this.#shutdown.signal,
    };
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
      const done = handleConnection(conn, this.#nextId++, ctx).catch((err) => {
        this.#logger.log("error", "internal_error", { reason: describeError(err) });
      });
      this.#live.set(conn, done);
      done.finally(() => this.#live.delete(conn));
    }
  }

  #closeListeners(): void {
    for (const listener of this.#listeners) listener.close();
  }

  /** Stops accepting, waits up to `timeoutMs` for live connections, then closes them. */
  async shutdown(timeoutMs: number): Promise<{ forced: number }> {
    this.#closeListeners();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const drained = (async () => {
      while (this.#live.size > 0) await Promise.all(this.#live.values());
      return false;
    })();
    const timedOut = await Promise.race([drained, expired]);
    clearTimeout(timer);
    const forced = timedOut ? this.#live.size : 0;
    if (timedOut) {
      // Tunnels record "shutdown" as their reason; handshakes in progress are simply closed.
      this.#shutdown.abort();
      for (const conn of this.#live.keys()) conn.close();
      await Promise.all(this.#live.values());
    }
    return { forced };
  }

  /** Connections being handled right now (handshakes and tunnels). */
  get liveConnections(): number {
    return this.#live.size;
  }
}
