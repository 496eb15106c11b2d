/**
 * Live state of the upstream groups of one configuration, and the only place it changes:
 * per server the active count, recent failures (passive health), the active health verdict,
 * `down` and `drained`, kept per address in records that outlive a configuration. acquire() asks the group's policy for a server and returns a lease;
 * every lease is released exactly once (release() is idempotent, so callers release in
 * `finally`), which keeps the active counts behind least_conn and max_conns exact.
 */
import type { Config, UpstreamConfig, UpstreamServerConfig } from "../config/schema.ts";
import { formatDuration } from "../config/duration.ts";
import type { Balancer, Candidate, PickContext, Random } from "../balance/balancer.ts";
import { createBalancer } from "../balance/create.ts";
import type { Logger } from "../observe/log.ts";
import { UpstreamPool } from "./pool.ts";

export interface UpstreamOptions {
  /** Milliseconds clock for fail_timeout (default Date.now); tests move it by hand. */
  now?: () => number;
  /** For the randomised policies (default Math.random). */
  random?: Random;
  /** Where "upstream_disabled" is logged; none by default. */
  logger?: Logger;
  /** Per-address state shared with earlier and later configurations (default: the group's own). */
  records?: ServerRecords;
  /** Servers found through DNS so far (discovery.ts keeps them up to date with setDiscovered()). */
  discovered?: readonly UpstreamServerConfig[];
}

/** What a server needs from its group. */
interface ServerHooks {
  now(): number;
  /** The server just reached max_fails. */
  disabled(server: ServerState): void;
}

export interface Lease {
  readonly server: ServerState;
  /** Ends this use of the server. `failed` counts toward max_fails. Calls after the first do nothing. */
  release(outcome?: { failed: boolean }): void;
}

/** Why acquire() found no server: every one already tried; the rest full (503); the rest unavailable (502). */
export type NoServer = "tried" | "full" | "unavailable";

export type Acquired = { lease: Lease; none?: undefined } | { lease?: undefined; none: NoServer };

/** One use of a server. An object with a method, not a closure: a tunnel holds its lease for
 * days (memory per idle tunnel). */
class ServerLease implements Lease {
  #released = false;
  constructor(readonly server: ServerState) {}

  release(outcome?: { failed: boolean }): void {
    if (this.#released) return;
    this.#released = true;
    this.server.leaseEnded(outcome?.failed ?? false);
  }
}

/**
 * What is known about one server address of a group, whichever configuration or DNS answer
 * names it: open leases, recent failures, the health verdict, an admin drain. Every ServerState
 * for that address (a reload builds new ones; a re-resolution too) shares the one record, so
 * least_conn and max_conns count the tunnels of earlier configurations, and a drained or
 * failing server stays so.
 */
export class ServerRecord {
  active = 0;
  /** Times of the latest failures, oldest first; at most max_fails of them are kept. */
  failures: number[] = [];
  /** Passive health: unavailable until this time. */
  failedUntil = 0;
  /** The active health check's verdict (health.ts); healthy until a check says otherwise. */
  healthy = true;
  /** Set by the admin API: no new connections; established tunnels keep running. */
  drained = false;
  /** When a configuration or DNS answer last named this address (ServerRecords.prune). */
  namedAt = 0;
}

/** How long the state of a server no longer named is remembered (a few DNS intervals and then some). */
export const RECORD_TTL_MS = 10 * 60_000;

/** The records of one gateway, by group and address, for the life of the process. */
export class ServerRecords {
  #records = new Map<string, ServerRecord>();

  get(group: string, address: string): ServerRecord {
    const key = `${group}\n${address}`;
    let record = this.#records.get(key);
    if (!record) this.#records.set(key, record = new ServerRecord());
    return record;
  }

  /**
   * Forgets the records of servers not named for `RECORD_TTL_MS` that hold nothing worth keeping.
   * An address with open tunnels or an admin drain is kept however long it is gone; and an answer
   * that flaps (a DNS server giving a few random records of many) must not reset a dead server's
   * failures and health verdict each time it comes back.
   */
  prune(named: ReadonlySet<ServerRecord>, now: number): void {
    for (const record of named) record.namedAt = now;
    for (const [key, record] of this.#records) {
      const idle = record.active === 0 && !record.drained;
      if (idle && now - record.namedAt > RECORD_TTL_MS) this.#records.delete(key);
    }
  }

  get size(): number {
    return this.#records.size;
  }
}

export class ServerState implements Candidate {
  readonly index: number;
  readonly config: UpstreamServerConfig;
  readonly record: ServerRecord;
  #hooks: ServerHooks;

  constructor(index: number, config: UpstreamServerConfig, record: ServerRecord, hooks: ServerHooks) {
    this.index = index;
    this.config = config;
    this.record = record;
    this.#hooks = hooks;
  }

  get address(): string {
    return this.config.address;
  }

  get weight(): number {
    return this.config.weight;
  }

  /** Tunnels and handshakes holding a lease on this address, under any configuration. */
  get active(): number {
    return this.record.active;
  }

  get healthy(): boolean {
    return this.record.healthy;
  }

  set healthy(healthy: boolean) {
    this.record.healthy = healthy;
  }

  get drained(): boolean {
    return this.record.drained;
  }

  set drained(drained: boolean) {
    this.record.drained = drained;
  }

  get full(): boolean {
    return this.config.max_conns > 0 && this.record.active >= this.config.max_conns;
  }

  /** May take a new connection, fullness aside. */
  availableAt(now: number): boolean {
    return !this.config.down && !this.drained && this.healthy && now >= this.record.failedUntil;
  }

  /** Counts one more connection on this server until the lease is released; acquire() calls this. */
  lease(): Lease {
    this.record.active++;
    return new ServerLease(this);
  }

  /** A lease of this server ended (ServerLease.release() only). */
  leaseEnded(failed: boolean): void {
    this.record.active--;
    if (failed) this.#fail(this.#hooks.now());
  }

  /** nginx's passive health: max_fails failures within fail_timeout -> out for fail_timeout. */
  #fail(now: number): void {
    const { max_fails, fail_timeout } = this.config;
    const record = this.record;
    // Already out: attempts that were in flight when it was marked change nothing.
    if (max_fails === 0 || now < record.failedUntil) return;
    record.failures = record.failures.filter((at) => now - at < fail_timeout);
    record.failures.push(now);
    if (record.failures.length < max_fails) return;
    record.failures = [];
    record.failedUntil = now + fail_timeout;
    this.#hooks.disabled(this);
  }
}

export class UpstreamGroup {
  readonly config: UpstreamConfig;
  #servers: readonly ServerState[] = [];
  /** Idle connections kept for plain HTTP (`keepalive`); undefined when the group keeps none. */
  readonly pool: UpstreamPool | undefined;
  /** Backups are considered only when no primary can be picked. */
  #tiers: readonly (readonly ServerState[])[] = [];
  #balancer!: Balancer;
  #now: () => number;
  #hooks: ServerHooks;
  #records: ServerRecords;
  #random: Random | undefined;
  #discovered: readonly UpstreamServerConfig[] = [];

  constructor(config: UpstreamConfig, options: UpstreamOptions = {}) {
    this.config = config;
    const now = options.now ?? Date.now;
    this.#now = now;
    const disabled = (server: ServerState) =>
      options.logger?.log("warn", "upstream_disabled", {
        upstream: config.name,
        server: server.address,
        fails: server.config.max_fails,
        fail_timeout: formatDuration(server.config.fail_timeout),
      });
    this.#hooks = { now, disabled };
    this.#records = options.records ?? new ServerRecords();
    this.#random = options.random;
    this.setDiscovered(options.discovered ?? []);
    this.pool = config.keepalive > 0
      ? new UpstreamPool({ max: config.keepalive, timeoutMs: config.keepalive_timeout })
      : undefined;
  }

  /** This generation of the group is done (reload, shutdown): its idle connections go. */
  retire(): void {
    this.pool?.close();
  }

  /** The servers connections are placed on now: the configured ones, then those DNS answered. */
  get servers(): readonly ServerState[] {
    return this.#servers;
  }

  /** The servers DNS gave, as last set. */
  get discovered(): readonly UpstreamServerConfig[] {
    return this.#discovered;
  }

  /** Per-address state, shared with the other configurations of this process. */
  get records(): ServerRecords {
    return this.#records;
  }

  /** Further servers to try after a failed attempt: as configured, else every server once. */
  get retries(): number {
    return this.config.retries ?? Math.max(0, this.#servers.length - 1);
  }

  /** Replaces the servers found through DNS (an address already configured is not added twice).
   * Policies start afresh on the new list; per-address state lives on in the records. */
  setDiscovered(discovered: readonly UpstreamServerConfig[]): void {
    this.#discovered = discovered;
    const seen = new Set<string>();
    const configs = [...this.config.servers, ...discovered].filter((server) =>
      !seen.has(server.address) && seen.add(server.address)
    );
    this.#servers = configs.map((server, index) =>
      new ServerState(index, server, this.#records.get(this.config.name, server.address), this.#hooks)
    );
    this.#tiers = [
      this.#servers.filter((s) => !s.config.backup),
      this.#servers.filter((s) => s.config.backup),
    ];
    this.#balancer = createBalancer(
      this.config,
      this.#servers.length,
      this.#random ? { random: this.#random } : {},
    );
  }

  /**
   * A lease on a server whose address is not in `tried`, chosen by the policy among the available
   * primaries that are not full, else among such backups; or why there is none.
   */
  acquire(tried: ReadonlySet<string>, ctx: PickContext): Acquired {
    const now = this.#now();
    let full = false;
    let untried = false;
    for (const tier of this.#tiers) {
      const candidates: ServerState[] = [];
      for (const server of tier) {
        if (tried.has(server.address)) continue;
        untried = true;
        if (!server.availableAt(now)) continue;
        if (server.full) full = true;
        else candidates.push(server);
      }
      const picked = this.#balancer.pick(candidates, ctx);
      if (picked) return { lease: picked.lease() };
    }
    return { none: full ? "full" : untried ? "unavailable" : "tried" };
  }
}

/** `discovered(name)` gives each group the servers DNS answered so far. */
export function createUpstreamGroups(
  config: Config,
  options: Omit<UpstreamOptions, "discovered"> & {
    discovered?: (group: UpstreamConfig) => readonly UpstreamServerConfig[];
  } = {},
): Map<string, UpstreamGroup> {
  const { discovered, ...rest } = options;
  return new Map(
    [...config.upstreams].map((
      [name, group],
    ) => [name, new UpstreamGroup(group, { ...rest, discovered: discovered?.(group) ?? [] })]),
  );
}
