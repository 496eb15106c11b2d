/**
 * DNS messages (RFC 1035), pure: one query out, the records of its answer in. Only what
 * discovery asks for (A, AAAA, SRV, and the CNAMEs that lead to them) is decoded; every other
 * record is skipped by its length.
 * Everything read from the wire is bounds-checked: a short, looping or lying message is a
 * DnsFormatError, never an out-of-range read.
 */
import { formatIp } from "./cidr.ts";

export const RecordType = { A: 1, AAAA: 28, SRV: 33 } as const;
export type QueryType = keyof typeof RecordType;

/** RFC 1035 §4.1.1 RCODE values the resolver acts on. */
export const Rcode = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const;

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** Without the trailing dot; "" for the root ("." = no service, RFC 2782). */
  target: string;
}

/** The records of one answer, by kind; `addresses` maps a lower-case name to its A/AAAA addresses. */
export interface DnsAnswer {
  rcode: number;
  /** Header TC: the answer did not fit. Over TCP, which discovery uses, only a broken server sets it. */
  truncated: boolean;
  /** A and AAAA records of the answer section, in order, as text ("10.0.0.1", "fd00::1"). */
  ips: string[];
  srv: SrvRecord[];
  /** A/AAAA records of the additional section (the addresses of SRV targets), by owner name. */
  additional: Map<string, string[]>;
}

export class DnsFormatError extends Error {
  override name = "DnsFormatError";
}

/** Names longer than this are not names (RFC 1035 §2.3.4: 255 octets). */
const MAX_NAME = 255;
const HEADER = 12;
const CLASS_IN = 1;
const CNAME = 5;

/** A query for `name` (dotted, trailing dot optional) with recursion desired. */
export function encodeQuery(id: number, name: string, type: QueryType): Uint8Array {
  const labels = name.replace(/\.$/, "").split(".");
  const out: number[] = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const label of labels) {
    const bytes = new TextEncoder().encode(label);
    if (bytes.length === 0 || bytes.length > 63) throw new DnsFormatError(`invalid label in "${name}"`);
    out.push(bytes.length, ...bytes);
  }
  out.push(0);
  if (out.length - HEADER > MAX_NAME) throw new DnsFormatError(`name too long: "${name}"`);
  const code = RecordType[type];
  out.push(code >> 8, code & 0xff, 0, CLASS_IN);
  return new Uint8Array(out);
}

/** The answer to the query for `name`; `id` must match the query's (a stray answer is an error).
 * Answer records count only when they are owned by `name` or by a name a CNAME of the answer
 * leads to from it: a server (or a cache poisoner) cannot add addresses for other names. */
export function decodeAnswer(message: Uint8Array, id: number, name: string): DnsAnswer {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const u16 = (at: number) => {
    if (at + 2 > message.length) throw new DnsFormatError("message cut short");
    return view.getUint16(at);
  };
  if (message.length < HEADER) throw new DnsFormatError("message shorter than its header");
  if (u16(0) !== id) throw new DnsFormatError(`answer id ${u16(0)} is not the query's ${id}`);
  const flags = u16(2);
  if ((flags & 0x8000) === 0) throw new DnsFormatError("not a response");
  const counts = [u16(4), u16(6), u16(8), u16(10)] as const;
  const answer: DnsAnswer = {
    rcode: flags & 0x000f,
    truncated: (flags & 0x0200) !== 0,
    ips: [],
    srv: [],
    additional: new Map(),
  };
  const owned: { owner: string; ip?: string; srv?: SrvRecord }[] = [];
  const cnames = new Map<string, string>();
  let at = HEADER;
  for (let i = 0; i < counts[0]; i++) at = readName(message, at).end + 4;
  const sections = [{ count: counts[1], kind: "answer" }, { count: counts[2], kind: "authority" }, {
    count: counts[3],
    kind: "additional",
  }] as const;
  for (const { count, kind } of sections) {
    for (let i = 0; i < count; i++) {
      const owner = readName(message, at);
      const type = u16(owner.end);
      const cls = u16(owner.end + 2);
      const length = u16(owner.end + 8);
      const start = owner.end + 10;
      const end = start + length;
      if (end > message.length) throw new DnsFormatError("record data runs past the message");
      at = end;
      if (cls !== CLASS_IN || kind === "authority") continue;
      const ip = type === RecordType.A || type === RecordType.AAAA
        ? readIp(message.subarray(start, end), type)
        : undefined;
      const ownerName = owner.name.toLowerCase();
      if (kind === "answer" && ip !== undefined) owned.push({ owner: ownerName, ip });
      if (kind === "answer" && type === RecordType.SRV) {
        owned.push({ owner: ownerName, srv: readSrv(message, start, end) });
      }
      if (kind === "answer" && type === CNAME) cnames.set(ownerName, readCname(message, start, end));
      if (kind === "additional" && ip !== undefined) {
        const name = owner.name.toLowerCase();
        answer.additional.set(name, [...answer.additional.get(name) ?? [], ip]);
      }
    }
  }
  const names = aliases(name.replace(/\.$/, "").toLowerCase(), cnames);
  for (const record of owned.filter((r) => names.has(r.owner))) {
    if (record.ip !== undefined) answer.ips.push(record.ip);
    if (record.srv) answer.srv.push(record.srv);
  }
  return answer;
}

/** `name` and every name its CNAME chain leads to (a loop ends where it repeats). */
function aliases(name: string, cnames: ReadonlyMap<string, string>): Set<string> {
  const names = new Set<string>();
  for (let next: string | undefined = name; next !== undefined && !names.has(next); next = cnames.get(next)) {
    names.add(next);
  }
  return names;
}

function readCname(message: Uint8Array, start: number, end: number): string {
  const target = readName(message, start);
  if (target.end !== end) throw new DnsFormatError("CNAME target does not end with its record");
  return target.name.toLowerCase();
}

function readIp(data: Uint8Array, type: number): string {
  if (type === RecordType.A) {
    if (data.length !== 4) throw new DnsFormatError("A record is not 4 bytes");
    return [...data].join(".");
  }
  if (data.length !== 16) throw new DnsFormatError("AAAA record is not 16 bytes");
  return formatIp(data);
}

function readSrv(message: Uint8Array, start: number, end: number): SrvRecord {
  if (end - start < 7) throw new DnsFormatError("SRV record too short");
  const view = new DataView(message.buffer, message.byteOffset + start, 6);
  const target = readName(message, start + 6);
  if (target.end !== end) throw new DnsFormatError("SRV target does not end with its record");
  return {
    priority: view.getUint16(0),
    weight: view.getUint16(2),
    port: view.getUint16(4),
    target: target.name,
  };
}

/** A possibly compressed name at `at`: its text and where the record continues. */
function readName(message: Uint8Array, at: number): { name: string; end: number } {
  const labels: string[] = [];
  let length = 0;
  let end: number | undefined;
  let pos = at;
  // Every pointer must go backwards, so a message cannot point in a loop.
  let limit = at;
  while (true) {
    if (pos >= message.length) throw new DnsFormatError("name runs past the message");
    const byte = message[pos]!;
    if (byte === 0) {
      end ??= pos + 1;
      break;
    }
    if ((byte & 0xc0) === 0xc0) {
      if (pos + 1 >= message.length) throw new DnsFormatError("name pointer cut short");
      const target = ((byte & 0x3f) << 8) | message[pos + 1]!;
      if (target >= limit) throw new DnsFormatError("name pointer does not point backwards");
      end ??= pos + 2;
      limit = target;
      pos = target;
      continue;
    }
    if ((byte & 0xc0) !== 0) throw new DnsFormatError("unknown label type");
    if (pos + 1 + byte > message.length) throw new DnsFormatError("label runs past the message");
    length += byte + 1;
    if (length > MAX_NAME) throw new DnsFormatError("name longer than 255 bytes");
    labels.push(new TextDecoder().decode(message.subarray(pos + 1, pos + 1 + byte)));
    pos += 1 + byte;
  }
  return { name: labels.join("."), end };
}
