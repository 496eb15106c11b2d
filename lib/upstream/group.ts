/**
 * Live state of the upstream groups of one configuration, and the only place it changes:
 * per server the active count, recent failures (passive health), the active health verdict,
 * `down` and `drained`. acquire() asks the group's policy for a server and returns a lease;
 * every lease is released exactly once (release() is idempotent, so callers release in
 * `finally`), which keeps the active counts behind least_conn and max_conns exact.
 */
import type { Config, UpstreamConfig, UpstreamServerConfig } from "../config/schema.ts";
import { formatDuration } from "../config/duration.ts";
import type { Balancer, Candidate, PickContext, Random } from "../balance/balancer.ts";
import { createBalancer } from "../balance/create.ts";
import type { Logger } from "../observe/log.ts";

export interface UpstreamOptions {
  /** Milliseconds clock for fail_timeout (default Date.now); tests move it by hand. */
  now?: () => number;
  /** For the randomised policies (default Math.random). */
  random?: Random;
  /** Where "upstream_disabled" is logged; none by default. */
  logger?: Logger;
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

export class ServerState implements Candidate {
  readonly index: number;
  readonly config: UpstreamServerConfig;
  /** The active health check's verdict (health.ts); healthy until a check says otherwise. */
  healthy = true;
  /** Set by the admin API: no new connections; established tunnels keep running. */
  drained = false;
  #hooks: ServerHooks;
  #active = 0;
  /** Times of the latest failures, oldest first; at most max_fails of them are kept. */
  #failures: number[] = [];
  /** Passive health: unavailable until this time. */
  #failedUntil = 0;

  constructor(index: number, config: UpstreamServerConfig, hooks: ServerHooks) {
    this.index = index;
    this.config = config;
    this.#hooks = hooks;
  }

  get address(): string {
    return this.config.address;
  }

  get weight(): number {
    return this.config.weight;
  }

  /** Tunnels and handshakes holding a lease on this server. */
  get active(): number {
    return this.#active;
  }

  get full(): boolean {
    return this.config.max_conns > 0 && this.#active >= this.config.max_conns;
  }

  /** May take a new connection, fullness aside. */
  availableAt(now: number): boolean {
    return !this.config.down && !this.drained && this.healthy && now >= this.#failedUntil;
  }

  /** Counts one more connection on this server until the lease is released; acquire() calls this. */
  lease(): Lease {
    this.#active++;
    let released = false;
    return {
      server: this,
      release: (outcome) => {
        if (released) return;
        released = true;
        this.#active--;
        if (outcome?.failed) this.#fail(this.#hooks.now());
      },
    };
  }

  /** nginx's passive health: max_fails failures within fail_timeout -> out for fail_timeout. */
  #fail(now: number): void {
    const { max_fails, fail_timeout } = this.config;
    // Already out: attempts that were in flight when it was marked change nothing.
    if (max_fails === 0 || now < this.#failedUntil) return;
    this.#failures = this.#failures.filter((at) => now - at < fail_timeout);
    this.#failures.push(now);
    if (this.#failures.length < max_fails) return;
    this.#failures = [];
    this.#failedUntil = now + fail_timeout;
    this.#hooks.disabled(this);
  }
}

export class UpstreamGroup {
  readonly config: UpstreamConfig;
  readonly servers: readonly ServerState[];
  /** Backups are considered only when no primary can be picked. */
  #tiers: readonly (readonly ServerState[])[];
  #balancer: Balancer;
  #now: () => number;

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
    this.servers = config.servers.map((server, index) => new ServerState(index, server, { now, disabled }));
    this.#tiers = [this.servers.filter((s) => !s.config.backup), this.servers.filter((s) => s.config.backup)];
    this.#balancer = createBalancer(config, options.random ? { random: options.random } : {});
  }

  /**
   * A lease on a server not in `tried`, chosen by the policy among the available primaries that
   * are not full, else among such backups; or why there is none.
   */
  acquire(tried: ReadonlySet<number>, ctx: PickContext): Acquired {
    const now = this.#now();
    let full = false;
    let untried = false;
    for (const tier of this.#tiers) {
      const candidates: ServerState[] = [];
      for (const server of tier) {
        if (tried.has(server.index)) continue;
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

export function createUpstreamGroups(
  config: Config,
  options: UpstreamOptions = {},
): Map<string, UpstreamGroup> {
  return new Map([...config.upstreams].map(([name, group]) => [name, new UpstreamGroup(group, options)]));
}
