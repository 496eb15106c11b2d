/**
 * The PROXY protocol (HAProxy, versions 1 and 2): a load balancer in front of wsgate states the
 * real client address in a header before the first byte of the connection; wsgate can send one
 * to its upstreams the same way. Pure: bytes in, a parse state out; addresses in, bytes out.
 * Parsing is strict, since a header is only ever accepted from a trusted peer and anything
 * odd in it means the peer is not what the configuration says it is.
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */
import { formatIp, isIpv4, parseIp } from "./cidr.ts";
import type { Addr } from "../runtime/types.ts";

export type ProxyVersion = 1 | 2;

export interface ProxyHeader {
  version: ProxyVersion;
  /** The original connection's addresses; absent for v1 UNKNOWN, v2 LOCAL and v2 AF_UNSPEC,
   * which mean "use the connection's own addresses" (e.g. the balancer's health checks). */
  source?: Addr;
  dest?: Addr;
}

export type ProxyParse =
  | { state: "incomplete" }
  | { state: "invalid"; error: string }
  | { state: "done"; header: ProxyHeader; rest: Uint8Array };

/** The v2 signature: chosen to be invalid as the start of any HTTP, TLS or v1 stream. */
const V2_SIGNATURE = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = new TextEncoder().encode("PROXY ");
/** The longest v1 line, CRLF included (spec §2.1). */
export const V1_MAX_LENGTH = 107;
const V2_FIXED = 16;
const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

const INCOMPLETE = { state: "incomplete" } as const;
const invalid = (error: string): ProxyParse => ({ state: "invalid", error });

/** How `bytes` start compared with `prefix`: a full match, a partial one (need more), or no match. */
function startsWith(bytes: Uint8Array, prefix: Uint8Array): "yes" | "partial" | "no" {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== prefix[i]) return "no";
  return n === prefix.length ? "yes" : "partial";
}

/** Parses the header at the start of a connection; `rest` is what followed it (the HTTP head). */
export function parseProxyHeader(bytes: Uint8Array): ProxyParse {
  const v1 = startsWith(bytes, V1_PREFIX);
  if (v1 === "yes") return parseV1(bytes);
  const v2 = startsWith(bytes, V2_SIGNATURE);
  if (v2 === "yes") return parseV2(bytes);
  if (v1 === "partial" || v2 === "partial") return INCOMPLETE;
  return invalid("no PROXY protocol header (the connection does not start with one)");
}

function parseV1(bytes: Uint8Array): ProxyParse {
  const lf = bytes.subarray(0, V1_MAX_LENGTH).indexOf(0x0a);
  if (lf === -1) {
    return bytes.length >= V1_MAX_LENGTH ? invalid("v1 header longer than 107 bytes") : INCOMPLETE;
  }
  if (bytes[lf - 1] !== 0x0d) return invalid("v1 header line does not end with CRLF");
  const line = String.fromCharCode(...bytes.subarray(V1_PREFIX.length, lf - 1));
  const rest = bytes.slice(lf + 1);
  const fields = line.split(" ");
  if (fields[0] === "UNKNOWN") return { state: "done", header: { version: 1 }, rest };
  if (fields.length !== 5) return invalid(`v1 header needs 5 fields after PROXY: ${JSON.stringify(line)}`);
  const [family, sourceIp, destIp, sourcePort, destPort] = fields as [string, string, string, string, string];
  if (family !== "TCP4" && family !== "TCP6") return invalid(`v1 unknown protocol ${JSON.stringify(family)}`);
  const source = v1Addr(family, sourceIp, sourcePort);
  const dest = v1Addr(family, destIp, destPort);
  if (typeof source === "string") return invalid(`v1 source: ${source}`);
  if (typeof dest === "string") return invalid(`v1 destination: ${dest}`);
  return { state: "done", header: { version: 1, source, dest }, rest };
}

function v1Addr(family: "TCP4" | "TCP6", ip: string, port: string): Addr | string {
  const bytes = parseIp(ip);
  // The spec allows no zone and no IPv4 text under TCP6 other than the usual IPv6 forms.
  if (!bytes || ip.includes("%") || (family === "TCP4") !== !ip.includes(":")) {
    return `${JSON.stringify(ip)} is not an ${family === "TCP4" ? "IPv4" : "IPv6"} address`;
  }
  if (!PORT.test(port) || Number(port) > 65535) return `${JSON.stringify(port)} is not a port`;
  return { transport: "tcp", hostname: formatIp(bytes), port: Number(port) };
}

/** Address block sizes by family (spec §2.2): IPv4, IPv6, unix. */
const V2_ADDRESS_LENGTH: Record<number, number> = { 0x11: 12, 0x21: 36, 0x31: 216 };

function parseV2(bytes: Uint8Array): ProxyParse {
  if (bytes.length < V2_FIXED) return INCOMPLETE;
  const versionCommand = bytes[12]!;
  const familyTransport = bytes[13]!;
  const length = (bytes[14]! << 8) | bytes[15]!;
  if (versionCommand >> 4 !== 2) return invalid(`v2 version ${versionCommand >> 4} is not 2`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`v2 unknown command ${command}`);
  if (bytes.length < V2_FIXED + length) return INCOMPLETE;
  const body = bytes.subarray(V2_FIXED, V2_FIXED + length);
  const rest = bytes.slice(V2_FIXED + length);
  const addressLength = V2_ADDRESS_LENGTH[familyTransport] ?? 0;
  if (familyTransport !== 0 && addressLength === 0) {
    return invalid(`v2 unsupported address family/transport 0x${familyTransport.toString(16)} (stream only)`);
  }
  if (body.length < addressLength) return invalid(`v2 address block shorter than ${addressLength} bytes`);
  const tlvError = checkTlvs(body.subarray(addressLength));
  if (tlvError) return invalid(`v2 ${tlvError}`);
  // LOCAL: the balancer speaking for itself (health checks); the addresses are to be ignored.
  if (command === 0 || familyTransport === 0) return { state: "done", header: { version: 2 }, rest };
  const [source, dest] = v2Addrs(familyTransport, body);
  return { state: "done", header: { version: 2, source, dest }, rest };
}

/** Type-length-value extensions must tile the rest of the block exactly; their contents are ignored. */
function checkTlvs(tlvs: Uint8Array): string | undefined {
  let at = 0;
  while (at < tlvs.length) {
    if (at + 3 > tlvs.length) return "truncated TLV header";
    at += 3 + ((tlvs[at + 1]! << 8) | tlvs[at + 2]!);
    if (at > tlvs.length) return "TLV longer than the header";
  }
  return undefined;
}

function v2Addrs(familyTransport: number, body: Uint8Array): [Addr, Addr] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (familyTransport === 0x31) {
    const path = (offset: number): Addr => {
      const raw = body.subarray(offset, offset + 108);
      const nul = raw.indexOf(0);
      return { transport: "unix", path: new TextDecoder().decode(nul === -1 ? raw : raw.subarray(0, nul)) };
    };
    return [path(0), path(108)];
  }
  const size = familyTransport === 0x11 ? 4 : 16;
  const ip = (offset: number) => {
    const raw = body.subarray(offset, offset + size);
    if (size === 16) return formatIp(raw);
    const bytes = new Uint8Array(16);
    bytes.set([0xff, 0xff], 10);
    bytes.set(raw, 12);
    return formatIp(bytes);
  };
  const ports = size * 2;
  return [
    { transport: "tcp", hostname: ip(0), port: view.getUint16(ports) },
    { transport: "tcp", hostname: ip(size), port: view.getUint16(ports + 2) },
  ];
}

/**
 * The header to send first on a connection to an upstream. Two TCP addresses give TCP4 (both
 * IPv4) or TCP6 (an IPv4 one then written IPv4-mapped); anything else (a unix-socket client)
 * gives v1 UNKNOWN or v2 PROXY with AF_UNSPEC: "no address to report".
 */
export function encodeProxyHeader(version: ProxyVersion, addrs: { source: Addr; dest: Addr }): Uint8Array {
  const source = addrs.source.transport === "tcp" ? parseIp(addrs.source.hostname) : undefined;
  const dest = addrs.dest.transport === "tcp" ? parseIp(addrs.dest.hostname) : undefined;
  const ports = [addrs.source, addrs.dest].map((a) => a.transport === "tcp" ? a.port : 0) as [number, number];
  const known = source && dest ? { source, dest, v4: isIpv4(source) && isIpv4(dest) } : undefined;
  return version === 1 ? encodeV1(known, ports) : encodeV2(known, ports);
}

/** The header for a connection the proxy makes on its own behalf (a health check): v2 LOCAL,
 * v1 UNKNOWN. Receivers then use the connection's own addresses. */
export function encodeLocalProxyHeader(version: ProxyVersion): Uint8Array {
  if (version === 1) return new TextEncoder().encode("PROXY UNKNOWN\r\n");
  return Uint8Array.from([...V2_SIGNATURE, 0x20, 0x00, 0, 0]);
}

interface KnownAddrs {
  source: Uint8Array;
  dest: Uint8Array;
  v4: boolean;
}

function encodeV1(known: KnownAddrs | undefined, [sourcePort, destPort]: [number, number]): Uint8Array {
  if (!known) return new TextEncoder().encode("PROXY UNKNOWN\r\n");
  // formatIp writes mapped addresses as dotted quads; TCP6 needs the IPv6 text form.
  const text = (ip: Uint8Array) =>
    known.v4 ? formatIp(ip) : isIpv4(ip) ? `::ffff:${formatIp(ip)}` : formatIp(ip);
  const family = known.v4 ? "TCP4" : "TCP6";
  return new TextEncoder().encode(
    `PROXY ${family} ${text(known.source)} ${text(known.dest)} ${sourcePort} ${destPort}\r\n`,
  );
}

function encodeV2(known: KnownAddrs | undefined, [sourcePort, destPort]: [number, number]): Uint8Array {
  const size = known ? (known.v4 ? 4 : 16) : 0;
  const length = known ? size * 2 + 4 : 0;
  const out = new Uint8Array(V2_FIXED + length);
  out.set(V2_SIGNATURE);
  out[12] = 0x21; // version 2, command PROXY
  out[13] = known ? (known.v4 ? 0x11 : 0x21) : 0x00;
  out[14] = length >> 8;
  out[15] = length & 0xff;
  if (known) {
    const offset = known.v4 ? 12 : 0;
    out.set(known.source.subarray(offset), V2_FIXED);
    out.set(known.dest.subarray(offset), V2_FIXED + size);
    const view = new DataView(out.buffer);
    view.setUint16(V2_FIXED + size * 2, sourcePort);
    view.setUint16(V2_FIXED + size * 2 + 2, destPort);
  }
  return out;
}
