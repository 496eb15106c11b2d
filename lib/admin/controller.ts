/**
 * The admin endpoints for one gateway process: health while not draining, metrics and status
 * from the live state, the charts' history (sampled here on a timer), open tunnels from the
 * watchdog's registry, reload from the configuration source, drain per upstream server.
 */
import { describeError } from "../errors.ts";
import { formatAddr } from "../net/address.ts";
import { renderPrometheus } from "../observe/metrics.ts";
import { buildStatus, type StatusJson } from "./status.ts";
import { listTunnels, parseTunnelId, type TunnelQuery, type TunnelsJson } from "./tunnels.ts";
import {
  DEFAULT_INTERVAL_MS,
  History,
  historyInterval,
  type HistoryJson,
  INTERVAL_ENV,
  untilNextSlot,
} from "../observe/history.ts";
import { VERSION } from "../process/version.ts";
import type { AdminController } from "./server.ts";
import type { LoadResult } from "../config/load.ts";
import type { Logger } from "../observe/log.ts";
import type { Gateway } from "../server.ts";
import type { MetricsSnapshot } from "../observe/metrics.ts";
import type { Runtime } from "../runtime/types.ts";
import { describeAnswer } from "../config/summary.ts";

export class GatewayAdmin implements AdminController {
  #runtime: Runtime;
  #gateway: Gateway;
  #logger: Logger;
  #load: () => Promise<LoadResult>;
  #startedAt = Date.now();
  /** Reloads run one at a time: a second SIGHUP during a reload waits its turn. */
  #reloading: Promise<unknown> = Promise.resolve();
  #history: History;

  constructor(runtime: Runtime, gateway: Gateway, logger: Logger, load: () => Promise<LoadResult>) {
    this.#runtime = runtime;
    this.#gateway = gateway;
    this.#logger = logger;
    this.#load = load;
    const interval = historyInterval(runtime.env(INTERVAL_ENV));
    if (typeof interval !== "number") {
      logger.log("warn", "history_interval_invalid", {
        reason: interval.error,
        using_ms: DEFAULT_INTERVAL_MS,
      });
    }
    this.#history = new History(typeof interval === "number" ? interval : DEFAULT_INTERVAL_MS);
    this.#sample();
  }

  /** One reading now, the next on the next multiple of the interval (where workers sample too). */
  #sample = (): void => {
    this.#history.record(this.snapshot(), Date.now());
    setTimeout(this.#sample, untilNextSlot(Date.now(), this.#history.intervalMs));
  };

  healthy(): boolean {
    return !this.#gateway.draining;
  }

  snapshot(): MetricsSnapshot {
    const metrics = this.#gateway.metrics;
    metrics.setServersHealth(
      [...this.#gateway.upstreams.values()].flatMap((group) =>
        group.servers.map((s) => ({ upstream: group.config.name, server: s.address, healthy: s.healthy }))
      ),
    );
    metrics.setGauge("wsgate_draining", {}, this.#gateway.draining ? 1 : 0);
    // One process; a supervisor reports its own count over its workers' (merged as the max).
    metrics.setGauge("wsgate_workers", {}, 1);
    // Tunnels add their bytes and messages to the counters when they close; open ones count as
    // they go, so long-lived tunnels show up in every scrape.
    const live = this.#gateway.liveTraffic();
    metrics.bytes("up", 0);
    metrics.bytes("down", 0);
    if (live.upMessages + live.downMessages > 0) {
      metrics.messages("up", 0);
      metrics.messages("down", 0);
    }
    const snapshot = metrics.snapshot();
    for (const sample of snapshot.counters) {
      const up = sample.labels.direction === "up";
      if (sample.name === "wsgate_bytes_total") sample.value += up ? live.up : live.down;
      if (sample.name === "wsgate_messages_total") sample.value += up ? live.upMessages : live.downMessages;
    }
    return snapshot;
  }

  metricsText(): Promise<string> {
    return Promise.resolve(renderPrometheus(this.snapshot()));
  }

  metricsJson(): Promise<MetricsSnapshot> {
    return Promise.resolve(this.snapshot());
  }

  statusJson(): Promise<StatusJson> {
    return Promise.resolve(this.status(this.snapshot(), 1));
  }

  historyJson(): Promise<HistoryJson> {
    return Promise.resolve(this.#history.toJson());
  }

  tunnelsJson(query: TunnelQuery): Promise<TunnelsJson> {
    return Promise.resolve(listTunnels(this.#gateway.openTunnels(), query, Date.now()));
  }

  closeTunnel(id: string, admin: string): Promise<boolean> {
    const n = parseTunnelId(id);
    const tunnel = n === undefined ? undefined : this.#gateway.findTunnel(n);
    if (!tunnel?.owner) return Promise.resolve(false);
    const { client, route } = tunnel.owner.describe();
    this.#logger.log("info", "tunnel_closed_by_admin", { id: n, admin, client, route });
    // The access record follows when the tunnel has ended: closed_by=proxy reason=admin_close.
    tunnel.abort("proxy", "admin_close");
    return Promise.resolve(true);
  }

  /** The status of this process; the supervisor passes merged metrics and its worker count. */
  status(metrics: MetricsSnapshot, workers: number): StatusJson {
    const gateway = this.#gateway;
    const config = gateway.config;
    return buildStatus({
      version: VERSION,
      runtime: this.#runtime.description,
      startedAt: this.#startedAt,
      now: Date.now(),
      draining: gateway.draining,
      workers,
      configSource: config.source,
      listeners: gateway.listeners.map((l) => ({ addr: formatAddr(l.addr), transport: l.transport })),
      routes: config.servers.flatMap((server) =>
        server.routes.map((route) => ({
          hosts: server.hosts?.join(",") ?? "*",
          path: route.path,
          upstream: route.answer ? describeAnswer(route.answer) : route.upstream,
          websocketOnly: route.websocket_only,
        }))
      ),
      upstreams: [...gateway.upstreams.values()].map((group) => ({
        name: group.config.name,
        balance: group.config.balance,
        servers: group.servers.map((s) => ({
          address: s.config.address,
          weight: s.config.weight,
          active: s.active,
          healthy: s.healthy,
          drained: s.drained,
          down: s.config.down,
          backup: s.config.backup,
        })),
      })),
      metrics,
    });
  }

  reload(): Promise<{ ok: boolean; errors: string[] }> {
    const run = this.#reloading.then(() => this.#reloadNow());
    this.#reloading = run;
    return run;
  }

  async #reloadNow(): Promise<{ ok: boolean; errors: string[] }> {
    const metrics = this.#gateway.metrics;
    let errors: string[];
    try {
      const result = await this.#load();
      if (result.config) {
        await this.#gateway.reload(result.config);
        metrics.reload(true);
        this.#logger.log("info", "reloaded", { config: result.config.source });
        return { ok: true, errors: [] };
      }
      errors = result.errors;
    } catch (err) {
      errors = [describeError(err)];
    }
    metrics.reload(false);
    this.#logger.log("error", "reload_failed", {
      errors: errors.length,
      note: "still running the previous config",
    });
    for (const error of errors) this.#logger.log("error", "config_error", { error });
    return { ok: false, errors };
  }

  drain(group: string, address: string, drained: boolean): Promise<boolean> {
    const server = this.#gateway.upstreams.get(group)?.servers.find((s) => s.config.address === address);
    if (!server) return Promise.resolve(false);
    server.drained = drained;
    this.#logger.log("info", drained ? "server_drained" : "server_undrained", {
      upstream: group,
      server: address,
    });
    return Promise.resolve(true);
  }
}
