import assert from "node:assert/strict";
import { type AccessRules, checkAccess } from "../../lib/admit/access.ts";
import { type OriginPattern, parseOriginPattern } from "../../lib/net/origin.ts";
import { type Cidr, parseCidr } from "../../lib/net/cidr.ts";

function patterns(...texts: string[]): OriginPattern[] {
  return texts.map((text) => {
    const parsed = parseOriginPattern(text);
    if ("error" in parsed) throw new Error(parsed.error);
    return parsed;
  });
}

function cidrs(...texts: string[]): Cidr[] {
  return texts.map((text) => {
    const parsed = parseCidr(text);
    if ("error" in parsed) throw new Error(parsed.error);
    return parsed;
  });
}

const decisions: {
  name: string;
  rules: AccessRules;
  ip: string | undefined;
  origin?: string;
  refused?: RegExp;
}[] = [
  { name: "no rules", rules: {}, ip: "192.0.2.1" },
  { name: "in allow", rules: { allow: cidrs("192.0.2.0/24") }, ip: "192.0.2.1" },
  {
    name: "not in allow",
    rules: { allow: cidrs("192.0.2.0/24") },
    ip: "198.51.100.1",
    refused: /allow list/,
  },
  { name: "in deny", rules: { deny: cidrs("192.0.2.0/24") }, ip: "192.0.2.1", refused: /deny list/ },
  { name: "not in deny", rules: { deny: cidrs("192.0.2.0/24") }, ip: "198.51.100.1" },
  {
    name: "deny wins over allow",
    rules: { allow: cidrs("10.0.0.0/8"), deny: cidrs("10.6.6.0/24") },
    ip: "10.6.6.6",
    refused: /deny list/,
  },
  { name: "allow with IPv6", rules: { allow: cidrs("2001:db8::/32") }, ip: "2001:db8::7" },
  {
    name: "IPv4-mapped client in an IPv4 allow",
    rules: { allow: cidrs("127.0.0.0/8") },
    ip: "::ffff:127.0.0.1",
  },
  {
    name: "unix client with allow",
    rules: { allow: cidrs("0.0.0.0/0") },
    ip: undefined,
    refused: /unix-socket/,
  },
  { name: "unix client with deny", rules: { deny: cidrs("::/0") }, ip: undefined },
  {
    name: "origin allowed",
    rules: { allow_origins: patterns("https://a.test") },
    ip: "192.0.2.1",
    origin: "https://a.test",
  },
  {
    name: "origin refused",
    rules: { allow_origins: patterns("https://a.test") },
    ip: "192.0.2.1",
    origin: "https://evil.test",
    refused: /origin "https:\/\/evil.test" is not allowed/,
  },
  {
    name: "origin missing",
    rules: { allow_origins: patterns("https://a.test") },
    ip: "192.0.2.1",
    refused: /no Origin header/,
  },
  {
    name: "address checked before origin",
    rules: { allow_origins: patterns("https://a.test"), deny: cidrs("192.0.2.1") },
    ip: "192.0.2.1",
    origin: "https://a.test",
    refused: /deny list/,
  },
];

for (const { name, rules, ip, origin, refused } of decisions) {
  Deno.test(`checkAccess: ${name}`, () => {
    const reason = checkAccess(rules, { ip, origin });
    if (refused) assert.match(reason ?? "(allowed)", refused);
    else assert.equal(reason, undefined);
  });
}
