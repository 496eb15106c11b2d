/**
 * Live state of the upstream groups of one configuration: active tunnels per server, and the
 * balancer that picks among them. Every acquire() returns a lease whose release() must run
 * exactly once; releasing twice is harmless, so callers can release in `finally`.
 */
import type { Config, UpstreamConfig, UpstreamServerConfig } from "./config/schema.ts";
import type { Balancer } from "./balance/balancer.ts";
import { SmoothRoundRobin } from "./balance/round_robin.ts";

export interface ServerState {
  readonly index: number;
  readonly config: UpstreamServerConfig;
  active: number;
}

export interface Lease {
  readonly server: ServerState;
  release(): void;
}

export class UpstreamGroup {
  readonly config: UpstreamConfig;
  readonly servers: readonly ServerState[];
  #balancer: Balancer;

  constructor(config: UpstreamConfig) {
    this.config = config;
    this.servers = config.servers.map((server, index) => ({ index, config: server, active: 0 }));
    this.#balancer = new SmoothRoundRobin(config.servers.map((s) => s.weight));
  }

  /** A server not in `tried`, or undefined when every server was tried. */
  acquire(tried: ReadonlySet<number>): Lease | undefined {
    const index = this.#balancer.pick((i) => !tried.has(i));
    if (index === undefined) return undefined;
    const server = this.servers[index]!;
    server.active++;
    let released = false;
    return {
      server,
      release() {
        if (released) return;
        released = true;
        server.active--;
      },
    };
  }
}

export function createUpstreamGroups(config: Config): Map<string, UpstreamGroup> {
  return new Map([...config.upstreams].map(([name, group]) => [name, new UpstreamGroup(group)]));
}
