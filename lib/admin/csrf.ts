/**
 * CSRF: whether a state-changing admin request comes from another site's page (pure). Browsers
 * say so themselves: `Origin` on every cross-origin POST (and `null` from sandboxes, files and
 * redirects), `Sec-Fetch-Site` on everything they send. curl and scripts send neither.
 */
import { hostName } from "../route.ts";
import { portOf } from "./host.ts";

/** RFC 9110 §9.2.1: what a browser may send anywhere without asking (and what changes nothing here). */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

export function changesState(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

/** A serialised origin is scheme://host[:port] and nothing more; the admin speaks plain HTTP. */
const HTTP_ORIGIN = /^http:\/\/([^/?#@\s]+)$/i;

/** Whether `origin` (as browsers send it) is `http://<host>`, the admin's own. */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  const theirs = HTTP_ORIGIN.exec(origin)?.[1];
  if (theirs === undefined || host === undefined) return false;
  return hostName(theirs) === hostName(host) && effectivePort(theirs) === effectivePort(host);
}

/** Browsers leave out the scheme's default port; a hand-written Host may not. */
function effectivePort(authority: string): string {
  return portOf(authority) || "80";
}

/**
 * Why a request looks cross-site, or undefined. Every `Origin` must be ours; `Sec-Fetch-Site`
 * same-site is refused too, because a sibling subdomain is not the admin.
 */
export function crossSiteReason(
  request: { origins: readonly string[]; fetchSites: readonly string[]; host: string | undefined },
): string | undefined {
  const foreign = request.origins.find((origin) => !sameOrigin(origin, request.host));
  if (foreign !== undefined) return `Origin ${JSON.stringify(foreign)} is not this admin listener`;
  const site = request.fetchSites.map((s) => s.trim().toLowerCase()).find((s) =>
    s === "cross-site" || s === "same-site"
  );
  return site === undefined ? undefined : `Sec-Fetch-Site: ${site}`;
}
