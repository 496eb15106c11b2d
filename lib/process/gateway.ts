/**
 * One gateway process: start the listeners, then react to signals (SIGTERM/SIGINT drain and
 * exit, SIGHUP reloads) and serve the admin listener. The supervisor (workers > 1) runs one of
 * these per worker process.
 */
import { describeError } from "../errors.ts";
import { formatAddr } from "../net/address.ts";
import { Gateway } from "../server.ts";
import { Metrics } from "../observe/metrics.ts";
import { runAdmin } from "../admin/server.ts";
import { GatewayAdmin } from "../admin/controller.ts";
import { onStopSignals } from "./stop_signals.ts";
import { watchConfigFile } from "./config_watch.ts";
import { type NameserverAddr, parseResolvConf } from "../net/nameserver.ts";
import { ProcessAcme } from "./acme.ts";
import { collectWhenQuiet } from "./quiet_gc.ts";
import { systemClock } from "../tunnel/clock.ts";
import type { LoadResult } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { describeAnswer } from "../config/summary.ts";
import type { Logger } from "../observe/log.ts";
import type { Addr, Runtime } from "../runtime/types.ts";

export interface AppOptions {
  /** Reads the configuration again (SIGHUP, POST /reload). */
  reloadConfig: () => Promise<LoadResult>;
  /** Share listening ports with sibling worker processes (SO_REUSEPORT). */
  reusePort?: boolean;
  /** Serve admin requests here (a worker's private socket for its supervisor) instead of at
   * config.admin.listen. */
  adminListen?: Addr;
  /** The config file (--config or ./wsgate.yaml), watched when the config says `watch_config`. */
  configFile?: string;
  /** A worker: serve the ACME certificates the supervisor obtains, do not order any. */
  followAcme?: boolean;
}

/** Where DNS discovery finds its name servers when a group names none (like nginx's resolver, it
 * asks them directly: no search domains). */
const RESOLV_CONF = "/etc/resolv.conf";

async function systemNameservers(runtime: Runtime): Promise<NameserverAddr[]> {
  let text: string;
  try {
    text = await runtime.readTextFile(RESOLV_CONF);
  } catch (err) {
    throw new Error(`cannot read ${RESOLV_CONF} (no resolver.nameservers configured): ${describeError(err)}`);
  }
  const servers = parseResolvConf(text);
  if (servers.length === 0) throw new Error(`${RESOLV_CONF} names no name server (set resolver.nameservers)`);
  return servers;
}

function logRoutes(logger: Logger, config: Config): void {
  for (const server of config.servers) {
    for (const route of server.routes) {
      const hosts = server.hosts?.join(",") ?? "*";
      if (route.answer) {
        logger.log("info", "route", { hosts, path: route.path, answer: describeAnswer(route.answer) });
        continue;
      }
      const group = config.upstreams.get(route.upstream)!;
      logger.log("info", "route", {
        hosts,
        path: route.path,
        upstream: group.name,
        servers: [
          ...group.servers.map((s) => s.address),
          ...group.discovered.map((d) => `${d.type === "srv" ? "srv" : "resolve"}:${d.source}`),
        ].join(","),
      });
    }
  }
}

/** Runs until a signal stops it; returns the exit code. */
export async function runApp(
  runtime: Runtime,
  config: Config,
  logger: Logger,
  options: AppOptions,
): Promise<number> {
  // Every connection is a file descriptor (two once proxied): use all the kernel allows.
  const files = runtime.raiseOpenFilesLimit();
  logger.log("error" in files ? "warn" : "info", "open_files_limit", files);
  const metrics = new Metrics();
  let certificatesChanged = () => {};
  const listening = Promise.withResolvers<void>();
  const acme = new ProcessAcme({
    logger,
    metrics,
    role: options.followAcme ? "follow" : "order",
    shareChallenges: false,
    onChange: () => certificatesChanged(),
    listening: listening.promise,
  });
  try {
    // Stored certificates are loaded before the listeners open: a valid one is served at once.
    await acme.update(config);
  } catch (err) {
    logger.log("error", "acme_storage_failed", { reason: describeError(err) });
    return 1;
  }
  const gateway = new Gateway(runtime, config, logger, {
    reusePort: options.reusePort ?? false,
    systemNameservers: () => systemNameservers(runtime),
    acme,
    metrics,
  });
  certificatesChanged = () => void gateway.certificatesChanged();
  const admin = new GatewayAdmin(runtime, gateway, logger, acme.reloading(options.reloadConfig));

  // Handlers go in before the listeners open: a signal right after "ready" must drain, not kill.
  onStopSignals(runtime, {
    drain: async (signal) => {
      const timeout = gateway.config.shutdown_timeout;
      const connections = gateway.liveConnections;
      logger.log("info", "shutdown", { signal, connections });
      if (connections > 0) {
        // Say what the wait is for, how long it can last, and how to cut it short.
        logger.log("info", "draining", {
          connections,
          until: new Date(Date.now() + timeout).toISOString(),
          stop_now: "send the signal again (a second Ctrl-C), 1 s or more after the first",
        });
      }
      const { forced } = await gateway.shutdown(timeout);
      logger.log("info", "stopped", { forced });
      logger.flush();
      runtime.exit(0);
    },
    exitNow: (signal) => {
      logger.log("warn", "exit_now", { signal, connections: gateway.liveConnections });
      logger.flush();
      runtime.exit(1);
    },
  });
  runtime.onSignal("SIGHUP", () => void admin.reload());
  // A worker's supervisor watches the file and reloads every worker.
  if (!options.adminListen && options.configFile !== undefined) {
    await watchConfigFile(options.configFile, {
      readTextFile: (path) => runtime.readTextFile(path),
      logger,
      enabled: () => gateway.config.watch_config,
      reload: () => admin.reload(),
    });
  }
  // A full GC where the runtime allows it (Bun; Deno with --v8-flags=--expose-gc), then the RSS
  // left: on SIGUSR2 (leak hunting, the soak test), and once quiet after a burst of connections.
  const collect = (reason: "signal" | "quiet") => {
    const started = performance.now();
    const heapUsed = runtime.collectGarbage();
    if (heapUsed === undefined && reason === "quiet") return;
    logger.log("info", "gc", {
      reason,
      collected: heapUsed !== undefined,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
      heap_used: heapUsed,
      rss: runtime.memoryRss(),
    });
  };
  runtime.onSignal("SIGUSR2", () => collect("signal"));
  try {
    await gateway.start();
    listening.resolve();
  } catch (err) {
    logger.log("error", "listen_failed", { reason: describeError(err) });
    return 1;
  }
  collectWhenQuiet({
    events: () => gateway.connectionEvents,
    open: () => gateway.liveConnections,
    collect: () => collect("quiet"),
    clock: systemClock,
  });

  const adminAddr = options.adminListen ?? config.admin?.listen;
  if (adminAddr) {
    try {
      const listener = await runtime.listen({ addr: adminAddr });
      gateway.adminListening(listener.addr);
      if (!options.adminListen) logger.log("info", "admin_listening", { addr: formatAddr(listener.addr) });
      runAdmin(listener, admin, {
        logger,
        config: () => gateway.config,
        internal: options.adminListen !== undefined,
      });
    } catch (err) {
      logger.log("error", "listen_failed", { addr: formatAddr(adminAddr), reason: describeError(err) });
      return 1;
    }
  }
  logRoutes(logger, config);
  logger.log("info", "ready", { listeners: gateway.addrs.map(formatAddr).join(",") });
  return await new Promise<number>(() => {});
}
