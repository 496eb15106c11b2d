/**
 * IP addresses and CIDR blocks (pure). Every address is held as 16 bytes, IPv4 as the
 * IPv4-mapped IPv6 address ::ffff:a.b.c.d, so one list holds both families and "10.0.0.0/8"
 * also matches a client that a dual-stack listener reports as ::ffff:10.1.2.3.
 * Parsing is strict: no leading zeros in IPv4 parts (0127.0.0.1 is octal to some parsers),
 * no host bits set in a block (a typo there would silently widen or narrow a rule).
 */

/** An address as 16 bytes (IPv4 mapped). */
export type IpBytes = Uint8Array;

export interface Cidr {
  /** As written, for messages. */
  text: string;
  network: IpBytes;
  /** Prefix length over the 16 bytes: IPv4 /24 is 96 + 24. */
  bits: number;
}

const IPV4_PART = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;
/** ::ffff:0:0/96, the block IPv4 addresses live in. */
const MAPPED_PREFIX = 96;

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!IPV4_PART.test(part) || Number(part) > 255) return undefined;
    bytes.push(Number(part));
  }
  return bytes;
}

function parseIpv6(text: string): IpBytes | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const items = half.split(":");
    for (const [i, item] of items.entries()) {
      // A trailing dotted quad stands for the last two groups (::ffff:1.2.3.4).
      if (i === items.length - 1 && item.includes(".")) {
        const v4 = parseIpv4(item);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (HEX_GROUP.test(item)) out.push(parseInt(item, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  // "::" stands for at least one group; without it there must be exactly eight.
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return bytes;
}

function mapped(v4: number[]): IpBytes {
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  bytes.set(v4, 12);
  return bytes;
}

/** "10.1.2.3", "2001:db8::1", "::ffff:10.1.2.3" -> 16 bytes; a "%zone" suffix (fe80::1%eth0) is ignored. */
export function parseIp(text: string): IpBytes | undefined {
  if (text.includes(":")) {
    const zone = text.indexOf("%");
    return parseIpv6(zone === -1 ? text : text.slice(0, zone));
  }
  const v4 = parseIpv4(text);
  return v4 && mapped(v4);
}

/** Whether the address is IPv4 (or IPv4-mapped). */
export function isIpv4(ip: IpBytes): boolean {
  return ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff && ip[11] === 0xff;
}

/** "10.0.0.0/8", "2001:db8::/32", or a single address (/32, /128). */
export function parseCidr(text: string): Cidr | { error: string } {
  const slash = text.indexOf("/");
  const addressText = slash === -1 ? text : text.slice(0, slash);
  if (addressText.includes("%")) return { error: `"${text}": a zone (%...) is not allowed in a CIDR block` };
  const network = parseIp(addressText);
  if (!network) {
    return { error: `"${text}" is not an IPv4 or IPv6 address or CIDR block (like 10.0.0.0/8, fd00::/8)` };
  }
  const v4 = !addressText.includes(":");
  const max = v4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!PREFIX.test(prefixText) || Number(prefixText) > max) {
      return { error: `"${text}": the prefix length must be 0 to ${max}` };
    }
    prefix = Number(prefixText);
  }
  const bits = v4 ? MAPPED_PREFIX + prefix : prefix;
  const masked = maskTo(network, bits);
  if (!equalBytes(masked, network)) {
    const suggestion = `${formatIp(masked)}/${prefix}`;
    return { error: `"${text}" has host bits set; did you mean ${suggestion}?` };
  }
  return { text, network, bits };
}

function maskTo(ip: IpBytes, bits: number): IpBytes {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = ip[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export function cidrContains(cidr: Cidr, ip: IpBytes): boolean {
  const whole = cidr.bits >> 3;
  for (let i = 0; i < whole; i++) if (ip[i] !== cidr.network[i]) return false;
  const rest = cidr.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[whole]! & mask) === cidr.network[whole];
}

/** Whether `ip` (text or bytes) lies in any of the blocks; an unparsable address matches none. */
export function matchesAny(cidrs: readonly Cidr[], ip: string | IpBytes | undefined): boolean {
  // Most lists are empty (no trusted proxies, no access rules): no parse per connection then.
  if (cidrs.length === 0) return false;
  const bytes = typeof ip === "string" ? parseIp(ip) : ip;
  return bytes !== undefined && cidrs.some((cidr) => cidrContains(cidr, bytes));
}

/** IPv4 (mapped) as dotted quad; IPv6 in the RFC 5952 form (lower case, longest zero run as ::). */
export function formatIp(ip: IpBytes): string {
  if (isIpv4(ip)) return Array.from(ip.subarray(12)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => (ip[i * 2]! << 8) | ip[i * 2 + 1]!);
  let best = { at: -1, length: 0 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.length < 2) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.length).join(":")}`;
}
