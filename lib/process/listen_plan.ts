/**
 * Which sockets a configuration needs (pure): one per distinct listen address, shared by the
 * server blocks that name it (chosen by Host, like nginx). Reload compares plans: a listener
 * whose address and TLS certificates are unchanged keeps its socket, so no connection is
 * refused while the configuration changes.
 */
import { formatAddr } from "../net/address.ts";
import type { Config, ServerConfig } from "../config/schema.ts";
import type { Addr, ClientAuth, TlsCertificate } from "../runtime/types.ts";

export interface PlannedListener {
  /** The address as configured (port 0 stays 0 here), which identifies it across reloads. */
  key: string;
  addr: Addr;
  servers: ServerConfig[];
  tls: TlsCertificate[];
  /** Client certificates asked for (servers sharing a listener set them alike: validate.ts). */
  clientAuth?: ClientAuth;
  /** Equal signatures = the same socket can be kept. */
  signature: string;
}

function certificates(servers: readonly ServerConfig[]): TlsCertificate[] {
  return servers.flatMap((server) =>
    (server.tls ?? []).map((c) => {
      const names = c.hosts ?? server.hosts;
      return { cert: c.cert, key: c.key, ...(names ? { serverNames: names } : {}) };
    })
  );
}

export function planListeners(config: Config): Map<string, PlannedListener> {
  const plan = new Map<string, PlannedListener>();
  for (const server of config.servers) {
    for (const addr of server.listen) {
      const key = formatAddr(addr);
      const entry = plan.get(key) ?? { key, addr, servers: [], tls: [], signature: "" };
      entry.servers.push(server);
      plan.set(key, entry);
    }
  }
  for (const entry of plan.values()) {
    entry.tls = certificates(entry.servers);
    const auth = entry.servers.find((s) => s.client_auth)?.client_auth;
    if (auth) entry.clientAuth = { ca: auth.ca, mode: auth.mode };
    entry.signature = JSON.stringify([entry.key, entry.tls, entry.clientAuth ?? null]);
  }
  return plan;
}

export interface PlanDiff {
  /** In both, same signature: keep the socket, switch its server blocks to the new config. */
  keep: PlannedListener[];
  /** New, or changed (address reused with other certificates): open. */
  open: PlannedListener[];
  /** Gone, or changed: close. */
  close: string[];
}

export function diffPlans(
  before: Map<string, PlannedListener>,
  after: Map<string, PlannedListener>,
): PlanDiff {
  const diff: PlanDiff = { keep: [], open: [], close: [] };
  for (const [key, next] of after) {
    const previous = before.get(key);
    if (previous?.signature === next.signature) diff.keep.push(next);
    else {
      if (previous) diff.close.push(key);
      diff.open.push(next);
    }
  }
  for (const key of before.keys()) if (!after.has(key)) diff.close.push(key);
  return diff;
}
