/**
 * Generators of HTTP heads for fuzzing: structured ones built from valid parts and known traps
 * (every smuggling ingredient), mutations of valid heads, and random bytes. Seeded, so that a
 * failing case can be replayed. Shared by the parser fuzz test and the end-to-end fuzz.
 */

export type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
export const chance = (random: Random, p: number) => random() < p;

/** Each part of a structured head: a valid choice most of the time, else a known trap. */
const PARTS = {
  method: [["GET", "POST", "OPTIONS", "PUT"], ["CONNECT", "get", "G ET", "GET\x00", "", "G\xc9T", "PRI"]],
  target: [
    ["/", "/chat?room=1", "http://h.test/x", "ws://h.test", "*"],
    ["h.test:443", "/a b", "/a#frag", "//x", "/%00", "http://u@h.test/", "/\x7f", "", "http://other.test/"],
  ],
  version: [["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"], [
    "HTTP/1.2",
    "HTTP/2.0",
    "HTTP/0.9",
    "http/1.1",
    "HTTP/1.1 ",
    "",
  ]],
  name: [
    [
      "Host",
      "Content-Length",
      "Transfer-Encoding",
      "Upgrade",
      "Connection",
      "Sec-WebSocket-Key",
      "X-A",
      "x-b",
    ],
    ["Transfer-Encoding ", " Host", "Content-Length\t", "X[1]", "X\x00", "\xc4", ""],
  ],
  value: [
    [
      "h.test",
      "0",
      "5",
      "chunked",
      "Chunked",
      "websocket",
      "keep-alive, Upgrade",
      "13",
      "\xe9t\xe9",
      "",
      "a\tb",
    ],
    [
      "a b",
      "00",
      "+5",
      "-1",
      "5, 5",
      "0x10",
      "99999999999999999999",
      "gzip, chunked",
      "chunked, gzip",
      "identity",
    ],
  ],
  traps: [["\r\n"], ["\n", "\r", "\r\r\n", "\n\r", "\x01", "\x00", "\x7f"]],
  separator: [[": ", ":", ":\t", ":  "], [" : ", "\t:", ""]],
  status: [["101", "200", "404"], ["99", "600", "2000", "abc", "20"]],
} as const;

function part(random: Random, name: keyof typeof PARTS, validRate = 0.9): string {
  const [valid, traps] = PARTS[name];
  return pick(random, chance(random, validRate) ? valid : traps);
}

/** A head assembled from parts that are each valid or a known trap. */
function structured(random: Random, response: boolean): string {
  const eol = () => part(random, "traps", 0.97);
  const start = response
    ? `${part(random, "version")} ${part(random, "status")}${pick(random, [" OK", "", " \x00"])}`
    : `${part(random, "method")}${chance(random, 0.97) ? " " : "  "}${part(random, "target")} ${
      part(random, "version")
    }`;
  let head = start + eol();
  // A Host most of the time, or HTTP/1.1 requests would nearly all be refused for lacking one.
  if (!response && chance(random, 0.8)) head += `Host: h.test${eol()}`;
  const count = Math.floor(random() * 6);
  for (let i = 0; i < count; i++) {
    if (chance(random, 0.03)) head += pick(random, [" folded", "\tfolded"]) + eol();
    const name = part(random, "name", 0.93);
    const value = part(random, "value", 0.85);
    head += `${name}${part(random, "separator", 0.95)}${value}${pick(random, ["", "", " ", "\t"])}${eol()}`;
  }
  return head + (chance(random, 0.95) ? "\r\n" : pick(random, ["\n", ""]));
}

const VALID = [
  "GET /chat HTTP/1.1\r\nHost: h.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: chunked\r\n\r\n",
  "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\nX-A: \xe9\r\n\r\n",
  "OPTIONS * HTTP/1.0\r\n\r\n",
  "GET http://h.test:8080/a?b HTTP/1.1\r\nHost: h.test:8080\r\n\r\n",
];
const VALID_RESPONSES = [
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
  "HTTP/1.0 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n",
];

const INTERESTING = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x2c, 0x3a, 0x7f, 0x80, 0xff, 0x2f, 0x3b];

/** Byte edits, line duplication and swaps, truncation of a valid head. */
function mutated(random: Random, seeds: readonly string[]): Uint8Array {
  let text = pick(random, seeds);
  if (chance(random, 0.2)) {
    const lines = text.split("\r\n");
    const at = 1 + Math.floor(random() * Math.max(1, lines.length - 3));
    if (chance(random, 0.5)) lines.splice(at, 0, lines[at] ?? "");
    else [lines[at], lines[1]] = [lines[1] ?? "", lines[at] ?? ""];
    text = lines.join("\r\n");
  }
  const bytes = Array.from(text, (c) => c.charCodeAt(0));
  for (let e = 1 + Math.floor(random() * 4); e > 0; e--) {
    const at = Math.floor(random() * bytes.length);
    const value = chance(random, 0.5) ? Math.floor(random() * 256) : pick(random, INTERESTING);
    const op = random();
    if (op < 0.4) bytes[at] = value;
    else if (op < 0.7) bytes.splice(at, 0, value);
    else if (op < 0.95) bytes.splice(at, 1 + Math.floor(random() * 3));
    else bytes.length = at;
  }
  return Uint8Array.from(bytes);
}

function randomBytes(random: Random): Uint8Array {
  const out = new Uint8Array(Math.floor(random() * 200));
  for (let i = 0; i < out.length; i++) {
    out[i] = chance(random, 0.7) ? 0x20 + Math.floor(random() * 95) : pick(random, INTERESTING);
  }
  return Uint8Array.from([...out, 13, 10, 13, 10]);
}

const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);

export function generate(random: Random, response: boolean): Uint8Array {
  const kind = random();
  if (kind < 0.45) return latin1(structured(random, response));
  if (kind < 0.9) return mutated(random, response ? VALID_RESPONSES : VALID);
  return randomBytes(random);
}
