/**
 * Which sockets a configuration needs (pure): one per distinct listen address, shared by the
 * server blocks that name it (chosen by Host, like nginx). Reload compares plans: a listener
 * whose address and TLS certificates are unchanged keeps its socket, so no connection is
 * refused while the configuration changes.
 */
import { formatAddr } from "../net/address.ts";
import type { AcmeConfig, Config, ServerConfig } from "../config/schema.ts";
import type { Addr, ClientAuth, TlsCertificate } from "../runtime/types.ts";

export interface PlannedListener {
  /** The address as configured (port 0 stays 0 here), which identifies it across reloads. */
  key: string;
  addr: Addr;
  servers: ServerConfig[];
  /** The certificates there are now: an ACME one only once it was obtained. */
  tls: TlsCertificate[];
  /** Some server block on it has TLS: it must not open without a certificate. */
  tlsExpected: boolean;
  /** Some server block on it gets its certificate from ACME: it will change while it runs. */
  swappable: boolean;
  /** Client certificates asked for (servers sharing a listener set them alike: validate.ts). */
  clientAuth?: ClientAuth;
  /** Equal signatures = the same socket can be kept. */
  signature: string;
}

/** A `tls.acme` block's certificate, once there is one; `serverNames` when it covers only
 * some of the block's domains (the previous one, while a changed list is being ordered). */
export type AcmeLookup = (
  acme: AcmeConfig,
) => { cert: string; key: string; serverNames?: string[] } | undefined;

function certificates(servers: readonly ServerConfig[], acme: AcmeLookup): TlsCertificate[] {
  return servers.flatMap((server) => {
    const obtained = server.acme && acme(server.acme);
    if (obtained) {
      return [{
        cert: obtained.cert,
        key: obtained.key,
        serverNames: obtained.serverNames ?? server.acme!.domains,
      }];
    }
    return (server.tls ?? []).map((c) => {
      const names = c.hosts ?? server.hosts;
      return { cert: c.cert, key: c.key, ...(names ? { serverNames: names } : {}) };
    });
  });
}

export function planListeners(
  config: Config,
  acme: AcmeLookup = () => undefined,
): Map<string, PlannedListener> {
  const plan = new Map<string, PlannedListener>();
  for (const server of config.servers) {
    for (const addr of server.listen) {
      const key = formatAddr(addr);
      const entry = plan.get(key) ??
        { key, addr, servers: [], tls: [], tlsExpected: false, swappable: false, signature: "" };
      entry.servers.push(server);
      plan.set(key, entry);
    }
  }
  for (const entry of plan.values()) {
    entry.tls = certificates(entry.servers, acme);
    entry.swappable = entry.servers.some((server) => server.acme);
    entry.tlsExpected = entry.swappable || entry.servers.some((server) => server.tls);
    const auth = entry.servers.find((s) => s.client_auth)?.client_auth;
    if (auth) entry.clientAuth = { ca: auth.ca, mode: auth.mode };
    // ACME certificates change under a running listener (setCertificates): not a reason to
    // open another socket at reload, so they are not part of the signature; nor are the ACME
    // domains (a changed list keeps the socket, serving the old certificate until the new one).
    const fixed = entry.swappable ? entry.servers.map((s) => s.acme ? "acme" : s.tls) : entry.tls;
    entry.signature = JSON.stringify([entry.key, fixed, entry.clientAuth ?? null]);
  }
  return plan;
}

/** Whether a listener's certificates differ between two plans of it. */
export function certificatesDiffer(a: PlannedListener, b: PlannedListener): boolean {
  return JSON.stringify(a.tls) !== JSON.stringify(b.tls);
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
