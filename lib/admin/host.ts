/**
 * HOST: whether the admin listener is the host a request was meant for (pure). A page that
 * DNS-rebinds its own name to 127.0.0.1 still sends that name as Host; a loopback name or an
 * IP literal cannot be rebound, other names must be listed in admin.hosts.
 */
import { parseIp } from "../net/cidr.ts";
import { hostName } from "../route.ts";

/** The port of a `host[:port]` authority as written, "" when it names none. */
export function portOf(authority: string): string {
  const host = authority.startsWith("[") ? authority.slice(authority.indexOf("]") + 1) : authority;
  const colon = host.lastIndexOf(":");
  return colon === -1 ? "" : host.slice(colon + 1);
}

function isIpLiteral(name: string): boolean {
  const bracketed = name.startsWith("[") && name.endsWith("]");
  const address = bracketed ? name.slice(1, -1) : name;
  // IPv6 only in brackets, and without a zone: that is how a browser writes a URL's host.
  return bracketed === address.includes(":") && !address.includes("%") && parseIp(address) !== undefined;
}

/** Whether a request with this Host header may be answered (`names`: admin.hosts, lower case). */
export function hostAllowed(host: string | undefined, names: readonly string[]): boolean {
  const name = hostName(host);
  if (name === "") return false;
  return name === "localhost" || isIpLiteral(name) || names.includes(name);
}
