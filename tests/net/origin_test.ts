import assert from "node:assert/strict";
import { originAllowed, type OriginPattern, parseOriginPattern } from "../../lib/net/origin.ts";

function patterns(...texts: string[]): OriginPattern[] {
  return texts.map((text) => {
    const parsed = parseOriginPattern(text);
    if ("error" in parsed) throw new Error(parsed.error);
    return parsed;
  });
}

const patternErrors: { name: string; text: string; error: RegExp }[] = [
  { name: "trailing slash", text: "https://app.example.com/", error: /no path: remove the trailing \// },
  { name: "a path", text: "https://app.example.com/x", error: /invalid origin pattern/ },
  { name: "bare *", text: "*", error: /invalid origin pattern/ },
  { name: "* in the middle", text: "https://app.*.com", error: /invalid origin pattern/ },
  { name: "**.", text: "**.example.com", error: /invalid origin pattern/ },
  { name: "empty", text: "", error: /invalid origin pattern/ },
  { name: "space", text: "https://a b", error: /invalid origin pattern/ },
  { name: "userinfo", text: "https://u@a.com", error: /invalid origin pattern/ },
  { name: "port too long", text: "https://a.com:123456", error: /invalid origin pattern/ },
  { name: "wildcard IPv6", text: "*.[::1]", error: /needs a host name/ },
];

for (const { name, text, error } of patternErrors) {
  Deno.test(`parseOriginPattern rejects: ${name}`, () => {
    const parsed = parseOriginPattern(text);
    assert.ok("error" in parsed, `accepted ${text}`);
    assert.match(parsed.error, error);
  });
}

const origins: { name: string; patterns: string[]; yes: string[]; no: (string | undefined)[] }[] = [
  {
    name: "exact origin",
    patterns: ["https://app.example.com"],
    yes: ["https://app.example.com", "HTTPS://App.Example.COM"],
    no: [
      "http://app.example.com",
      "https://app.example.com:8443",
      "https://evil.app.example.com",
      "https://app.example.com.evil.net",
      "https://app.example.com/",
      "null",
      undefined,
      "",
    ],
  },
  {
    name: "exact origin with a port",
    patterns: ["http://localhost:3000"],
    yes: ["http://localhost:3000"],
    no: ["http://localhost", "http://localhost:30000", "https://localhost:3000"],
  },
  {
    name: "scheme + wildcard",
    patterns: ["https://*.example.com"],
    yes: ["https://a.example.com", "https://a.b.example.com"],
    no: ["https://example.com", "http://a.example.com", "https://a.example.com:444", "https://aexample.com"],
  },
  {
    name: "bare wildcard: any scheme and port",
    patterns: ["*.example.com"],
    yes: ["https://a.example.com", "http://a.example.com:8080", "wss://x.y.example.com"],
    no: ["https://example.com", "https://notexample.com", "https://example.com.evil"],
  },
  {
    name: "bare host: any scheme and port",
    patterns: ["example.com"],
    yes: ["https://example.com", "http://example.com:81"],
    no: ["https://a.example.com"],
  },
  {
    name: "bare host with a port: the port must match",
    patterns: ["example.com:8080"],
    yes: ["http://example.com:8080", "https://example.com:8080"],
    no: ["https://example.com", "https://example.com:8081"],
  },
  {
    name: "several patterns",
    patterns: ["https://a.test", "https://*.b.test"],
    yes: ["https://a.test", "https://x.b.test"],
    no: ["https://b.test", "https://x.a.test"],
  },
  {
    name: "IPv6 literal",
    patterns: ["http://[::1]:8080"],
    yes: ["http://[::1]:8080"],
    no: ["http://[::2]:8080", "http://[::1]"],
  },
  {
    name: "malformed Origin headers never match",
    patterns: ["*.example.com", "example.com"],
    yes: [],
    no: [
      "example.com",
      "https://",
      "https://example.com/path",
      "https://u@example.com",
      " https://example.com",
    ],
  },
];

for (const { name, patterns: texts, yes, no } of origins) {
  Deno.test(`originAllowed: ${name}`, () => {
    const list = patterns(...texts);
    for (const origin of yes) assert.equal(originAllowed(list, origin), true, `${origin} allowed`);
    for (const origin of no) assert.equal(originAllowed(list, origin), false, `${origin} refused`);
  });
}
