/** The policy named by an upstream group's `balance` (pure). */
import type { UpstreamConfig } from "../config/schema.ts";
import type { Balancer, Random } from "./balancer.ts";
import { ConsistentHash } from "./hash.ts";
import { ipHash } from "./ip_hash.ts";
import { LeastConn } from "./least_conn.ts";
import { RandomTwo } from "./random.ts";
import { SmoothRoundRobin } from "./round_robin.ts";

/** For `servers` servers (the group's, once DNS answered). `random` (default Math.random) breaks
 * least_conn ties and draws for `random`; tests seed it. */
export function createBalancer(
  config: UpstreamConfig,
  servers: number,
  options: { random?: Random } = {},
): Balancer {
  const random = options.random ?? Math.random;
  // Requests without a hash key are placed round robin, as nginx does.
  const roundRobin = () => new SmoothRoundRobin(servers);
  switch (config.balance) {
    case "round_robin":
      return roundRobin();
    case "least_conn":
      return new LeastConn(random);
    case "ip_hash":
      return ipHash(roundRobin());
    case "hash":
      return new ConsistentHash((ctx) => ctx.hashKey(), roundRobin());
    case "random":
      return new RandomTwo(random);
  }
}
