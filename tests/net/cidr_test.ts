import assert from "node:assert/strict";
import {
  type Cidr,
  cidrContains,
  formatIp,
  isIpv4,
  matchesAny,
  parseCidr,
  parseIp,
} from "../../lib/net/cidr.ts";

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed;
}

const ipCases: { name: string; text: string; expect: string | undefined }[] = [
  { name: "IPv4", text: "192.0.2.1", expect: "192.0.2.1" },
  { name: "IPv4 zeros", text: "0.0.0.0", expect: "0.0.0.0" },
  { name: "IPv4 max", text: "255.255.255.255", expect: "255.255.255.255" },
  { name: "IPv6 loopback", text: "::1", expect: "::1" },
  { name: "IPv6 any", text: "::", expect: "::" },
  {
    name: "IPv6 full form is compressed",
    text: "2001:0db8:0000:0000:0000:0000:0000:0001",
    expect: "2001:db8::1",
  },
  { name: "IPv6 upper case", text: "2001:DB8::A", expect: "2001:db8::a" },
  { name: "IPv6 longest zero run wins", text: "1:0:0:2:0:0:0:3", expect: "1:0:0:2::3" },
  { name: "IPv6 single zero group is not compressed", text: "1:0:2:3:4:5:6:7", expect: "1:0:2:3:4:5:6:7" },
  { name: "IPv4-mapped IPv6 is IPv4", text: "::ffff:10.1.2.3", expect: "10.1.2.3" },
  { name: "IPv4-mapped in hex", text: "::ffff:a01:203", expect: "10.1.2.3" },
  { name: "trailing ::", text: "fe80::", expect: "fe80::" },
  { name: "zone is ignored", text: "fe80::1%eth0", expect: "fe80::1" },
  { name: "IPv4 leading zero (octal to some parsers)", text: "010.0.0.1", expect: undefined },
  { name: "IPv4 part over 255", text: "1.2.3.256", expect: undefined },
  { name: "IPv4 three parts", text: "1.2.3", expect: undefined },
  { name: "IPv4 five parts", text: "1.2.3.4.5", expect: undefined },
  { name: "IPv4 empty part", text: "1..3.4", expect: undefined },
  { name: "IPv4 sign", text: "+1.2.3.4", expect: undefined },
  { name: "IPv6 two ::", text: "1::2::3", expect: undefined },
  { name: "IPv6 nine groups", text: "1:2:3:4:5:6:7:8:9", expect: undefined },
  { name: "IPv6 seven groups without ::", text: "1:2:3:4:5:6:7", expect: undefined },
  { name: "IPv6 :: standing for nothing", text: "1:2:3:4::5:6:7:8", expect: undefined },
  { name: "IPv6 group of five digits", text: "12345::", expect: undefined },
  { name: "IPv6 leading single colon", text: ":1::", expect: undefined },
  { name: "IPv6 non-hex", text: "g::1", expect: undefined },
  { name: "IPv6 dotted quad not last", text: "::1.2.3.4:1", expect: undefined },
  { name: "brackets", text: "[::1]", expect: undefined },
  { name: "host name", text: "localhost", expect: undefined },
  { name: "empty", text: "", expect: undefined },
];

for (const { name, text, expect } of ipCases) {
  Deno.test(`parseIp: ${name}`, () => {
    const ip = parseIp(text);
    assert.equal(ip && formatIp(ip), expect);
  });
}

Deno.test("isIpv4: mapped addresses are IPv4, others are not", () => {
  assert.equal(isIpv4(parseIp("1.2.3.4")!), true);
  assert.equal(isIpv4(parseIp("::ffff:1.2.3.4")!), true);
  assert.equal(isIpv4(parseIp("::1.2.3.4")!), false);
  assert.equal(isIpv4(parseIp("2001:db8::1")!), false);
});

const cidrErrors: { name: string; text: string; error: RegExp }[] = [
  { name: "host bits set (IPv4)", text: "10.1.0.0/8", error: /host bits set; did you mean 10\.0\.0\.0\/8\?/ },
  { name: "host bits set (IPv6)", text: "2001:db8::1/32", error: /did you mean 2001:db8::\/32\?/ },
  { name: "IPv4 prefix over 32", text: "10.0.0.0/33", error: /0 to 32/ },
  { name: "IPv6 prefix over 128", text: "::/129", error: /0 to 128/ },
  { name: "empty prefix", text: "10.0.0.0/", error: /0 to 32/ },
  { name: "prefix with leading zero", text: "10.0.0.0/08", error: /0 to 32/ },
  { name: "negative prefix", text: "10.0.0.0/-1", error: /0 to 32/ },
  { name: "two slashes", text: "10.0.0.0/8/8", error: /0 to 32/ },
  { name: "zone", text: "fe80::%eth0/64", error: /zone/ },
  { name: "not an address", text: "example.com/24", error: /not an IPv4 or IPv6 address/ },
  { name: "empty", text: "", error: /not an IPv4 or IPv6 address/ },
];

for (const { name, text, error } of cidrErrors) {
  Deno.test(`parseCidr rejects: ${name}`, () => {
    const parsed = parseCidr(text);
    assert.ok("error" in parsed, `accepted ${text}`);
    assert.match(parsed.error, error);
  });
}

const contains: { name: string; cidr: string; yes: string[]; no: string[] }[] = [
  {
    name: "IPv4 /8",
    cidr: "10.0.0.0/8",
    yes: ["10.0.0.0", "10.255.255.255", "::ffff:10.1.2.3"],
    no: ["11.0.0.0", "9.255.255.255", "::a00:1", "2001:db8::1"],
  },
  { name: "IPv4 /32 (bare address)", cidr: "192.0.2.7", yes: ["192.0.2.7"], no: ["192.0.2.6", "192.0.2.8"] },
  { name: "IPv4 /0 covers IPv4 only", cidr: "0.0.0.0/0", yes: ["1.2.3.4", "255.255.255.255"], no: ["::1"] },
  {
    name: "odd prefix /23",
    cidr: "192.0.2.0/23",
    yes: ["192.0.2.1", "192.0.3.255"],
    no: ["192.0.4.0", "192.0.1.255"],
  },
  {
    name: "odd prefix /31",
    cidr: "192.0.2.6/31",
    yes: ["192.0.2.6", "192.0.2.7"],
    no: ["192.0.2.5", "192.0.2.8"],
  },
  {
    name: "IPv6 /32",
    cidr: "2001:db8::/32",
    yes: ["2001:db8::1", "2001:db8:ffff::"],
    no: ["2001:db9::", "::1"],
  },
  { name: "IPv6 /128 (bare address)", cidr: "::1", yes: ["::1"], no: ["::2", "127.0.0.1"] },
  { name: "IPv6 /0 covers everything", cidr: "::/0", yes: ["::1", "1.2.3.4", "ffff::"], no: [] },
  { name: "IPv4-mapped block", cidr: "::ffff:0:0/96", yes: ["8.8.8.8", "::ffff:1.1.1.1"], no: ["::1"] },
  {
    name: "IPv4-mapped /120 written as IPv6",
    cidr: "::ffff:10.0.0.0/120",
    yes: ["10.0.0.9"],
    no: ["10.0.1.0"],
  },
  {
    name: "IPv6 /65 crossing a byte",
    cidr: "fd00::8000:0:0:0/65",
    yes: ["fd00::ffff:0:0:1"],
    no: ["fd00::7fff:0:0:0"],
  },
];

for (const { name, cidr: text, yes, no } of contains) {
  Deno.test(`cidrContains: ${name}`, () => {
    const block = cidr(text);
    for (const ip of yes) assert.equal(cidrContains(block, parseIp(ip)!), true, `${ip} in ${text}`);
    for (const ip of no) assert.equal(cidrContains(block, parseIp(ip)!), false, `${ip} not in ${text}`);
  });
}

Deno.test("matchesAny: any block; text or bytes; unparsable and missing addresses match nothing", () => {
  const blocks = [cidr("10.0.0.0/8"), cidr("fd00::/8")];
  assert.equal(matchesAny(blocks, "10.9.9.9"), true);
  assert.equal(matchesAny(blocks, "fd12::1"), true);
  assert.equal(matchesAny(blocks, parseIp("fd12::1")), true);
  assert.equal(matchesAny(blocks, "192.0.2.1"), false);
  assert.equal(matchesAny(blocks, "not-an-ip"), false);
  assert.equal(matchesAny(blocks, undefined), false);
  assert.equal(matchesAny([], "10.0.0.1"), false);
});
