/**
 * Listen and upstream addresses as written in configs and flags -> `Addr`. Pure. Parsed by
 * hand rather than with `URL`, which would accept odd IPv4 forms ("ws://1.2.3") and could not
 * tell "ws://h" from "ws://h/".
 */
import { formatIp, parseIp } from "./cidr.ts";

/** An endpoint of a connection: TCP (IPv4 or IPv6) or a unix socket. */
export type Addr =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

const FORMS = "expected host:port, :port, [ipv6]:port or unix:/path";
const HOSTNAME = /^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?$/i;

/** Listen addresses: "host:port", ":port" (= 0.0.0.0), "[::1]:port", "unix:/abs/path". Port 0..65535 (0 = ephemeral). */
export function parseListenAddress(text: string): Addr | { error: string } {
  if (text.startsWith("unix:")) return unixAddr(text);
  if (text.includes("://")) return { error: `a listen address has no scheme (${FORMS})` };
  const hostPort = parseHostPort(text, { minPort: 0 });
  if ("error" in hostPort) return hostPort;
  return {
    transport: "tcp",
    hostname: hostPort.host === "" ? "0.0.0.0" : hostPort.host,
    port: hostPort.port,
  };
}

/**
 * Upstream servers: "host:port", "[v6]:port", "unix:/path", "ws://host[:port]" (default 80),
 * "wss://host[:port]" (default 443, tls). A path/query/userinfo in the URL is an error: routing
 * decides paths.
 */
export function parseUpstreamAddress(
  text: string,
): { addr: Addr; tls: boolean; hostname: string } | { error: string } {
  if (text.startsWith("unix:")) {
    const addr = unixAddr(text);
    return "error" in addr ? addr : { addr, tls: false, hostname: "localhost" };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "ws" && scheme !== "wss") {
    return { error: `unsupported scheme "${scheme}://"; use ws:// or wss://` };
  }
  const tls = scheme === "wss";
  const authority = scheme === undefined ? text : urlAuthority(text.slice(scheme.length + 3));
  if (typeof authority !== "string") return authority;
  const defaultPort = scheme === undefined ? undefined : tls ? 443 : 80;
  const hostPort = parseHostPort(authority, { minPort: 1, defaultPort });
  if ("error" in hostPort) return hostPort;
  if (hostPort.host === "") return { error: `missing host (${FORMS})` };
  const { host, port } = hostPort;
  return { addr: { transport: "tcp", hostname: host, port }, tls, hostname: host };
}

/** "127.0.0.1:8020", "[::1]:8020", "unix:/run/x.sock". */
export function formatAddr(addr: Addr): string {
  if (addr.transport === "unix") return `unix:${addr.path}`;
  return addr.hostname.includes(":") ? `[${addr.hostname}]:${addr.port}` : `${addr.hostname}:${addr.port}`;
}

function unixAddr(text: string): Addr | { error: string } {
  const path = text.slice("unix:".length);
  if (!path.startsWith("/")) return { error: `unix socket path must be absolute, like unix:/run/app.sock` };
  return { transport: "unix", path };
}

/** The "host:port" part of a ws:// URL; anything after it but a lone "/" is an error. */
function urlAuthority(rest: string): string | { error: string } {
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const tail = end === -1 ? "" : rest.slice(end);
  if (authority.includes("@")) return { error: "user info (user@) is not supported in upstream URLs" };
  if (tail !== "" && tail !== "/") {
    return { error: `upstream URLs take no path, query or fragment (routes decide the path): "${tail}"` };
  }
  return authority;
}

function parseHostPort(
  text: string,
  options: { minPort: number; defaultPort?: number | undefined },
): { host: string; port: number } | { error: string } {
  if (text === "") return { error: `empty address (${FORMS})` };
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1) return { error: `missing "]" after the IPv6 address` };
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return { error: `unexpected "${after}" after "]"` };
    portText = after === "" ? undefined : after.slice(1);
    if (!isIpv6(host)) return { error: `invalid IPv6 address "${host}"` };
  } else {
    const colons = text.split(":").length - 1;
    if (colons > 1) return { error: `IPv6 addresses need brackets, like [::1]:8080` };
    const colon = text.indexOf(":");
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
    if (host !== "" && !HOSTNAME.test(host)) return { error: `invalid host name "${host}"` };
  }
  if (portText === undefined) {
    if (options.defaultPort !== undefined) return { host, port: options.defaultPort };
    // "8020" alone is a port written without its colon: say how to write it.
    if (/^\d{1,5}$/.test(host)) {
      return { error: `missing port: "${host}" is a host name; for port ${host}, write ":${host}"` };
    }
    return { error: `missing port (${FORMS})` };
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= options.minPort && port <= 65_535)) {
    return { error: `invalid port "${portText}" (must be ${options.minPort}..65535)` };
  }
  return { host, port };
}

function isIpv6(host: string): boolean {
  return /^[0-9a-f:.]+$/i.test(host) && host.includes(":") && URL.canParse(`http://[${host}]/`);
}

/**
 * The client's IP as limits, access lists and balancing see it: one form per address, so a client
 * counts and hashes the same whether a dual-stack socket reports ::ffff:1.2.3.4 or 1.2.3.4.
 * Undefined for a unix-socket client, and for "" (a Bun socket reset before it was accepted).
 */
const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
/** A dotted quad as formatIp writes it (no leading zeros). */
const CANONICAL_IPV4 = new RegExp(`^(?:${OCTET}\\.){3}${OCTET}$`);

export function clientIpOf(addr: Addr): string | undefined {
  if (addr.transport !== "tcp") return undefined;
  // What sockets report for IPv4 clients is already in its one form: no parse and format per connection.
  if (CANONICAL_IPV4.test(addr.hostname)) return addr.hostname;
  const bytes = parseIp(addr.hostname);
  return bytes ? formatIp(bytes) : addr.hostname || undefined;
}
