/**
 * GUARD: which admin requests are refused before any endpoint runs, and with what (pure).
 * The admin listener is not a browser target (DESIGN §3e): a rebound name gets 421, another
 * site's POST 403, a missing or wrong token 401.
 */
import { getHeaderValues } from "../http/headers.ts";
import { bearerMatches } from "./bearer.ts";
import { changesState, crossSiteReason } from "./csrf.ts";
import { hostAllowed } from "./host.ts";
import type { Header } from "../http/headers.ts";

export interface AdminPolicy {
  /** admin.hosts: names answered besides loopback and IP literals (lower case, no trailing dot). */
  hosts: readonly string[];
  /** From admin.token_file; undefined = no token needed. */
  token?: string;
  /** A unix-socket listener: no browser can reach it, so any Host (or none) will do. */
  unixSocket: boolean;
}

export interface Refusal {
  status: 401 | 403 | 421;
  /** For the log line and the answer's body; never holds the token. */
  reason: string;
}

/** The one endpoint a load balancer polls: it reveals nothing and changes nothing. */
const OPEN_PATH = "/healthz";

export function refusal(
  request: { method: string; path: string; headers: Header[] },
  policy: AdminPolicy,
): Refusal | undefined {
  const host = getHeaderValues(request.headers, "host")[0];
  if (!policy.unixSocket && !hostAllowed(host, policy.hosts)) {
    const reason = host === undefined ? "no Host header" : `Host ${JSON.stringify(host)} is not allowed`;
    return { status: 421, reason: `${reason} (loopback, IP literals and admin.hosts are)` };
  }
  if (changesState(request.method)) {
    const crossSite = crossSiteReason({
      origins: getHeaderValues(request.headers, "origin"),
      fetchSites: getHeaderValues(request.headers, "sec-fetch-site"),
      host,
    });
    if (crossSite !== undefined) return { status: 403, reason: `cross-site request: ${crossSite}` };
  }
  const open = request.path.split("?")[0] === OPEN_PATH;
  if (policy.token !== undefined && !open) {
    const authorizations = getHeaderValues(request.headers, "authorization");
    if (!bearerMatches(authorizations, policy.token)) {
      return {
        status: 401,
        reason: authorizations.length === 0 ? "no bearer token" : "wrong bearer token",
      };
    }
  }
  return undefined;
}
