/** DNS message codec: the query's exact bytes, answers with compression, and malformed answers. */
import assert from "node:assert/strict";
import { decodeAnswer, DnsFormatError, encodeQuery, Rcode } from "../../lib/net/dns_message.ts";

/** A response header: id, flags (QR set plus `rcode`), counts. */
function header(id: number, counts: [number, number, number, number], rcode = 0, tc = false): number[] {
  const flags = 0x8180 | rcode | (tc ? 0x0200 : 0);
  return [id >> 8, id & 0xff, flags >> 8, flags & 0xff, ...counts.flatMap((n) => [n >> 8, n & 0xff])];
}
const name = (
  text: string,
) => [...text.split(".").flatMap((l) => [l.length, ...new TextEncoder().encode(l)]), 0];
const u16 = (n: number) => [n >> 8, n & 0xff];
/** Question "app.test" A at offset 12; a pointer to it is c0 0c. */
const QUESTION = [...name("app.test"), 0, 1, 0, 1];
const record = (
  owner: number[],
  type: number,
  data: number[],
) => [...owner, ...u16(type), 0, 1, 0, 0, 0, 60, ...u16(data.length), ...data];

Deno.test("encodeQuery(): header with RD, one question, the name's labels, type and class IN", () => {
  assert.deepEqual(
    [...encodeQuery(0x1234, "app.test.", "SRV")],
    [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...name("app.test"), 0, 33, 0, 1],
  );
  assert.throws(() => encodeQuery(1, "a..b", "A"), DnsFormatError);
  assert.throws(() => encodeQuery(1, `${"x".repeat(64)}.test`, "A"), DnsFormatError);
  assert.throws(() => encodeQuery(1, Array(130).fill("ab").join("."), "A"), /too long/);
});

Deno.test("decodeAnswer(): A and AAAA answers through a name pointer, SRV with additional addresses", () => {
  const v6 = [0xfd, 0, ...Array(13).fill(0), 1];
  const a = decodeAnswer(
    new Uint8Array([
      ...header(7, [1, 3, 0, 0]),
      ...QUESTION,
      ...record([0xc0, 12], 1, [10, 0, 0, 1]),
      ...record([0xc0, 12], 28, v6),
      ...record([0xc0, 12], 16, [3, 0x61, 0x62, 0x63]), // TXT: skipped by its length
    ]),
    7,
    "app.test",
  );
  assert.deepEqual(a.ips, ["10.0.0.1", "fd00::1"]);
  assert.equal(a.rcode, Rcode.noError);

  const srvData = [...u16(10), ...u16(5), ...u16(8080), ...name("pod.test")];
  const srv = decodeAnswer(
    new Uint8Array([
      ...header(9, [1, 1, 0, 1]),
      ...QUESTION,
      ...record([0xc0, 12], 33, srvData),
      // The additional record's owner points into the SRV target (offset of "pod.test" in the message).
      ...record([0xc0, 12 + QUESTION.length + 12 + 6], 1, [10, 0, 0, 9]),
    ]),
    9,
    "app.test.",
  );
  assert.deepEqual(srv.srv, [{ priority: 10, weight: 5, port: 8080, target: "pod.test" }]);
  assert.deepEqual([...srv.additional], [["pod.test", ["10.0.0.9"]]]);
});

Deno.test("decodeAnswer(): records of other names are ignored, unless a CNAME of the answer leads to them", () => {
  // Answer records start at 12 + QUESTION.length; each owner below is spelled out, not pointed to.
  const decode = (asked: string, ...records: number[][]) =>
    decodeAnswer(
      new Uint8Array([...header(3, [1, records.length, 0, 0]), ...QUESTION, ...records.flat()]),
      3,
      asked,
    );
  const evil = record(name("evil.other"), 1, [10, 6, 6, 6]);
  const own = record([0xc0, 12], 1, [10, 0, 0, 1]);
  assert.deepEqual(decode("app.test", evil, own).ips, ["10.0.0.1"]);
  assert.deepEqual(decode("APP.test.", own, evil).ips, ["10.0.0.1"], "names compare without case and dot");
  const srvData = [...u16(1), ...u16(1), ...u16(8080), ...name("pod.test")];
  assert.deepEqual(decode("app.test", record(name("evil.other"), 33, srvData)).srv, []);
  // app.test -> web.test -> pod.test, listed out of order, and a name no CNAME leads to.
  const chain = [
    record(name("pod.test"), 1, [10, 0, 0, 7]),
    record(name("web.test"), 5, name("pod.test")),
    record([0xc0, 12], 5, name("web.test")),
    record(name("stray.test"), 1, [10, 6, 6, 6]),
  ];
  assert.deepEqual(decode("app.test", ...chain).ips, ["10.0.0.7"]);
  // A CNAME loop ends; a CNAME owned by another name leads nowhere for this one.
  const loop = [
    record([0xc0, 12], 5, name("b.test")),
    record(name("b.test"), 5, name("app.test")),
    record(name("b.test"), 1, [10, 0, 0, 8]),
  ];
  assert.deepEqual(decode("app.test", ...loop).ips, ["10.0.0.8"]);
  const foreignAlias = [record(name("x.other"), 5, name("evil.other")), evil];
  assert.deepEqual(decode("app.test", ...foreignAlias).ips, []);
  assert.throws(
    () => decode("app.test", record([0xc0, 12], 5, [...name("web.test"), 0])),
    /CNAME target does not end with its record/,
  );
});

Deno.test("decodeAnswer(): NXDOMAIN and REFUSED come back as rcodes, TC as truncated", () => {
  assert.equal(
    decodeAnswer(new Uint8Array([...header(1, [1, 0, 0, 0], 3), ...QUESTION]), 1, "app.test").rcode,
    Rcode.nxDomain,
  );
  assert.equal(
    decodeAnswer(new Uint8Array([...header(1, [1, 0, 0, 0], 5), ...QUESTION]), 1, "app.test").rcode,
    Rcode.refused,
  );
  assert.equal(
    decodeAnswer(new Uint8Array([...header(1, [0, 0, 0, 0], 0, true)]), 1, "app.test").truncated,
    true,
  );
});

Deno.test("decodeAnswer(): malformed answers are DnsFormatError, never an out-of-range read", () => {
  const ok = [...header(1, [1, 1, 0, 0]), ...QUESTION, ...record([0xc0, 12], 1, [10, 0, 0, 1])];
  const cases: [string, number[], number, RegExp][] = [
    ["shorter than a header", [0, 1, 0x81], 1, /header/],
    ["another id", ok, 2, /id 1 is not the query's 2/],
    ["a query, not a response", [0, 1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1, /not a response/],
    ["cut inside the record", ok.slice(0, -2), 1, /past the message/],
    [
      "count larger than the records",
      [...header(1, [1, 2, 0, 0]), ...QUESTION, ...record([0xc0, 12], 1, [1, 2, 3, 4])],
      1,
      /past|short/,
    ],
    ["a pointer to itself", [...header(1, [1, 0, 0, 0]), 0xc0, 12, 0, 1, 0, 1], 1, /backwards/],
    ["a pointer forwards", [...header(1, [1, 0, 0, 0]), 0xc0, 20, 0, 1, 0, 1, 0, 0, 0, 0], 1, /backwards/],
    ["a label past the end", [...header(1, [1, 0, 0, 0]), 40, 0x61], 1, /label runs past/],
    ["reserved label type", [...header(1, [1, 0, 0, 0]), 0x80, 0], 1, /label type/],
    [
      "A record of 5 bytes",
      [...header(1, [1, 1, 0, 0]), ...QUESTION, ...record([0xc0, 12], 1, [1, 2, 3, 4, 5])],
      1,
      /4 bytes/,
    ],
    [
      "AAAA record of 4 bytes",
      [...header(1, [1, 1, 0, 0]), ...QUESTION, ...record([0xc0, 12], 28, [1, 2, 3, 4])],
      1,
      /16 bytes/,
    ],
    [
      "SRV record too short",
      [...header(1, [1, 1, 0, 0]), ...QUESTION, ...record([0xc0, 12], 33, [0, 1, 0])],
      1,
      /too short/,
    ],
    [
      "SRV target past its record",
      [...header(1, [1, 1, 0, 0]), ...QUESTION, ...record([0xc0, 12], 33, [0, 1, 0, 1, 0, 80, 3, 0x61])],
      1,
      /past|end/,
    ],
    [
      "a name over 255 bytes",
      [...header(1, [1, 0, 0, 0]), ...Array(5).fill([63, ...Array(63).fill(0x61)]).flat(), 0],
      1,
      /255/,
    ],
  ];
  for (const [what, bytes, id, message] of cases) {
    assert.throws(() => decodeAnswer(new Uint8Array(bytes), id, "app.test"), (err: Error) => {
      assert.ok(err instanceof DnsFormatError, `${what}: ${err}`);
      assert.match(err.message, message, what);
      return true;
    });
  }
});

Deno.test("decodeAnswer(): random bytes never throw anything but DnsFormatError", () => {
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let i = 0; i < 2_000; i++) {
    const bytes = [
      ...header(1, [next() & 3, next() & 7, next() & 3, next() & 3]),
      ...Array.from({ length: next() }, next),
    ];
    try {
      decodeAnswer(new Uint8Array(bytes), 1, "app.test");
    } catch (err) {
      assert.ok(err instanceof DnsFormatError, String(err));
    }
  }
});
