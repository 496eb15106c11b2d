/**
 * DNS discovery (DESIGN §3c): every upstream group with `resolve: true` or `srv:` servers looks
 * its names up at start and every `resolver.interval`, and gets the answers as servers
 * (UpstreamGroup.setDiscovered). An address that appears takes new connections at once
 * (`upstream_added`); one that disappears takes no new ones while its open tunnels run on
 * (`upstream_removed`: leases hold their server, not the list). A failed lookup keeps the last
 * good answer (`resolve_failed` once per failure streak, wsgate_resolve_failures_total each time);
 * an answer without records (NXDOMAIN, NOERROR without A/AAAA) empties that name's servers.
 * The last answers outlive a reload: the new configuration's groups start from them.
 */
import { describeError } from "../errors.ts";
import type { Addr } from "../net/address.ts";
import type { NameserverAddr } from "../net/nameserver.ts";
import { ownListener } from "../net/own_address.ts";
import type { DiscoveredServersConfig, UpstreamConfig, UpstreamServerConfig } from "../config/schema.ts";
import type { Logger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { Net } from "../runtime/types.ts";
import { DnsResolver } from "./dns_resolver.ts";
import { diffAddresses, resolvedServers, srvServers, type SrvTarget } from "./dns_servers.ts";
import type { UpstreamGroup } from "./group.ts";
import { sleep } from "./sleep.ts";

export interface DiscoveryOptions {
  logger: Logger;
  metrics: Metrics;
  /** The `nameserver`s of /etc/resolv.conf, read at every round (it may change under a running
   * process); rejects, saying why, when it cannot be read or names none. */
  systemNameservers: () => Promise<NameserverAddr[]>;
  /** The gateway's own listen and admin addresses (bound ports once listening): answers naming
   * them are ignored, so a request cannot loop through the gateway (lib/net/own_address.ts). */
  ownAddresses: () => readonly Addr[];
}

/** A name's last good answer. */
type Answer = { ips: readonly string[] } | { targets: readonly SrvTarget[] };

interface NameState {
  answer?: Answer;
  failing: boolean;
  empty: boolean;
}

/** SRV targets looked up at once: an answer of hundreds of pods must not open hundreds of sockets. */
const TARGET_LOOKUPS = 8;

export class Discovery {
  #net: Net;
  #options: DiscoveryOptions;
  /** By resolver and name, across configurations. */
  #names = new Map<string, NameState>();
  /** Ends the loops of the configuration being followed. */
  #following = new AbortController();
  /** By group: the answered addresses ignored as the gateway's own, each logged when it appears. */
  #ignored = new Map<string, Set<string>>();

  constructor(net: Net, options: DiscoveryOptions) {
    this.#net = net;
    this.#options = options;
  }

  /** The servers the last good answers give `group` (none before its names were answered). */
  serversFor(group: UpstreamConfig): UpstreamServerConfig[] {
    const servers = group.discovered.flatMap((source) => {
      const answer = this.#names.get(nameKey(group, source))?.answer;
      if (!answer) return [];
      return "ips" in answer ? resolvedServers(source, answer.ips) : srvServers(source, answer.targets);
    });
    return this.#withoutOwn(group.name, servers);
  }

  #withoutOwn(upstream: string, servers: UpstreamServerConfig[]): UpstreamServerConfig[] {
    const own = this.#options.ownAddresses();
    const before = this.#ignored.get(upstream) ?? new Set();
    const ignored = new Set<string>();
    const kept = servers.filter((server) => {
      const listener = server.addr.transport === "tcp" ? ownListener(server.addr, own) : undefined;
      if (listener === undefined) return true;
      ignored.add(server.address);
      if (!before.has(server.address)) {
        this.#options.logger.log("warn", "upstream_ignored", {
          upstream,
          server: server.address,
          reason: `the gateway's own listener ${listener}: it would loop through the gateway`,
        });
      }
      return false;
    });
    this.#ignored.set(upstream, ignored);
    return kept;
  }

  /**
   * Keeps the servers of `groups` up to date until the next follow() or stop(); `changed` runs
   * after a group's servers changed. Resolves once every group has had its first lookup.
   */
  follow(groups: ReadonlyMap<string, UpstreamGroup>, changed: () => void): Promise<void> {
    this.#following.abort();
    this.#following = new AbortController();
    const signal = this.#following.signal;
    const firsts: Promise<void>[] = [];
    for (const group of groups.values()) {
      const resolver = group.config.resolver;
      if (!resolver) continue;
      const first = this.#round(group, signal, changed);
      firsts.push(first);
      first.then(async () => {
        while (!signal.aborted) {
          await sleep(resolver.interval, signal);
          if (!signal.aborted) await this.#round(group, signal, changed);
        }
      });
    }
    return Promise.all(firsts).then(() => {});
  }

  stop(): void {
    this.#following.abort();
  }

  /** Looks up every name of `group`, then applies what changed. Never throws. */
  async #round(group: UpstreamGroup, signal: AbortSignal, changed: () => void): Promise<void> {
    const config = group.config;
    // Unreadable or empty resolv.conf: every lookup fails with that reason (and keeps its answer).
    const nameservers = config.resolver!.nameservers ?? this.#options.systemNameservers();
    const resolver = Promise.resolve(nameservers).then((servers) =>
      new DnsResolver(this.#net, { nameservers: servers, timeout: config.resolver!.timeout })
    );
    const results = await Promise.all(config.discovered.map(async (source) => {
      try {
        return { source, answer: await lookup(await resolver, source) };
      } catch (err) {
        return { source, error: describeError(err) };
      }
    }));
    if (signal.aborted) return;
    for (const result of results) this.#record(config, result);
    const servers = this.serversFor(config);
    const before = group.discovered;
    if (sameServers(before, servers)) return;
    const { logger } = this.#options;
    const { added, removed } = diffAddresses(before.map((s) => s.address), servers.map((s) => s.address));
    group.setDiscovered(servers);
    for (const server of added) logger.log("info", "upstream_added", { upstream: config.name, server });
    for (const server of removed) {
      // Its open tunnels hold their own lease and run on; the count says how many.
      const open = group.records.get(config.name, server).active;
      logger.log("info", "upstream_removed", { upstream: config.name, server, open_tunnels: open });
    }
    changed();
  }

  #record(
    group: UpstreamConfig,
    result: { source: DiscoveredServersConfig; answer?: Answer; error?: string },
  ): void {
    const { logger, metrics } = this.#options;
    const { source } = result;
    const key = nameKey(group, source);
    const state = this.#names.get(key) ?? { failing: false, empty: false };
    this.#names.set(key, state);
    if (result.answer === undefined) {
      metrics.resolveFailure(group.name, source.name);
      if (state.failing) return;
      state.failing = true;
      logger.log("warn", "resolve_failed", {
        upstream: group.name,
        name: source.name,
        reason: result.error ?? "",
        note: state.answer ? "keeping the last answer" : "no servers from this name until it resolves",
      });
      return;
    }
    if (state.failing) logger.log("info", "resolve_recovered", { upstream: group.name, name: source.name });
    state.failing = false;
    state.answer = result.answer;
    const empty = "ips" in result.answer
      ? result.answer.ips.length === 0
      : result.answer.targets.length === 0;
    if (empty && !state.empty) {
      logger.log("warn", "resolve_empty", {
        upstream: group.name,
        name: source.name,
        note: "the name has no records: no servers from it",
      });
    }
    state.empty = empty;
  }
}

async function lookup(resolver: DnsResolver, source: DiscoveredServersConfig): Promise<Answer> {
  if (source.type === "resolve") return { ips: await resolver.addresses(source.name) };
  const answer = await resolver.query(source.name, "SRV");
  // Target "." means "no such service here" (RFC 2782).
  const records = answer.srv.filter((r) => r.target !== "");
  const targets: SrvTarget[] = [];
  for (let i = 0; i < records.length; i += TARGET_LOOKUPS) {
    targets.push(
      ...await Promise.all(
        records.slice(i, i + TARGET_LOOKUPS).map(async (record) => ({
          priority: record.priority,
          weight: record.weight,
          port: record.port,
          ips: answer.additional.get(record.target.toLowerCase()) ?? await resolver.addresses(record.target),
        })),
      ),
    );
  }
  return { targets };
}

function nameKey(group: UpstreamConfig, source: DiscoveredServersConfig): string {
  const servers = group.resolver?.nameservers?.map((s) => `${s.hostname}:${s.port}`).join(",") ?? "system";
  return `${servers} ${source.type} ${source.name}`;
}

function sameServers(a: readonly UpstreamServerConfig[], b: readonly UpstreamServerConfig[]): boolean {
  return a.length === b.length && a.every((s, i) => JSON.stringify(s) === JSON.stringify(b[i]));
}
