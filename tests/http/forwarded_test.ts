import assert from "node:assert/strict";
import { addForwardedHeaders, type ForwardedInfo } from "../../lib/http/forwarded.ts";
import type { Header } from "../../lib/http/headers.ts";

const h = (name: string, value: string): Header => ({ name, value });

const cases: { name: string; input: Header[]; info: ForwardedInfo; expect: Header[] }[] = [
  {
    name: "no incoming headers",
    input: [h("Host", "a")],
    info: { clientIp: "10.0.0.1", proto: "http", host: "a" },
    expect: [
      h("Host", "a"),
      h("Forwarded", "for=10.0.0.1;host=a;proto=http"),
      h("X-Forwarded-For", "10.0.0.1"),
      h("X-Forwarded-Proto", "http"),
      h("X-Forwarded-Host", "a"),
      h("X-Real-IP", "10.0.0.1"),
    ],
  },
  {
    name: "from a trusted proxy: appends to the chain, joining fields and dropping empty ones",
    input: [
      h("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
      h("Host", "a"),
      h("X-Forwarded-For", ""),
      h("X-FORWARDED-FOR", "3.3.3.3"),
      h("Forwarded", "for=1.1.1.1;proto=https"),
    ],
    info: { clientIp: "2001:db8::1", proto: "https", host: "a:8443", trustIncoming: true },
    expect: [
      h("Host", "a"),
      h("Forwarded", 'for=1.1.1.1;proto=https, for="[2001:db8::1]";host="a:8443";proto=https'),
      h("X-Forwarded-For", "1.1.1.1, 2.2.2.2, 3.3.3.3, 2001:db8::1"),
      h("X-Forwarded-Proto", "https"),
      h("X-Forwarded-Host", "a:8443"),
      h("X-Real-IP", "2001:db8::1"),
    ],
  },
  {
    name: "from anyone else: a spoofed chain is replaced by the client",
    input: [
      h("X-Forwarded-For", "6.6.6.6"),
      h("Host", "a"),
      h("x-forwarded-for", "7.7.7.7"),
      h("Forwarded", "for=6.6.6.6"),
    ],
    info: { clientIp: "10.0.0.9", proto: "http", host: "a" },
    expect: [
      h("Host", "a"),
      h("Forwarded", "for=10.0.0.9;host=a;proto=http"),
      h("X-Forwarded-For", "10.0.0.9"),
      h("X-Forwarded-Proto", "http"),
      h("X-Forwarded-Host", "a"),
      h("X-Real-IP", "10.0.0.9"),
    ],
  },
  {
    name: "replaces spoofed X-Real-IP, X-Forwarded-Proto and X-Forwarded-Host",
    input: [
      h("X-Real-IP", "6.6.6.6"),
      h("X-Forwarded-Proto", "https"),
      h("x-forwarded-host", "evil"),
      h("X-Real-Ip", "7.7.7.7"),
    ],
    info: { clientIp: "10.0.0.2", proto: "http", host: "good" },
    expect: [
      h("Forwarded", "for=10.0.0.2;host=good;proto=http"),
      h("X-Forwarded-For", "10.0.0.2"),
      h("X-Forwarded-Proto", "http"),
      h("X-Forwarded-Host", "good"),
      h("X-Real-IP", "10.0.0.2"),
    ],
  },
  {
    name: "without a host, an incoming X-Forwarded-Host is dropped",
    input: [h("X-Forwarded-Host", "evil")],
    info: { clientIp: "10.0.0.3", proto: "http" },
    expect: [
      h("Forwarded", "for=10.0.0.3;proto=http"),
      h("X-Forwarded-For", "10.0.0.3"),
      h("X-Forwarded-Proto", "http"),
      h("X-Real-IP", "10.0.0.3"),
    ],
  },
  {
    name: "a unix-socket client is an unknown node in Forwarded",
    input: [],
    info: { clientIp: "unix:", proto: "http" },
    expect: [
      h("Forwarded", "for=unknown;proto=http"),
      h("X-Forwarded-For", "unix:"),
      h("X-Forwarded-Proto", "http"),
      h("X-Real-IP", "unix:"),
    ],
  },
];

for (const { name, input, info, expect } of cases) {
  Deno.test(`addForwardedHeaders: ${name}`, () => {
    const before = structuredClone(input);
    assert.deepEqual(addForwardedHeaders(input, info), expect);
    assert.deepEqual(input, before, "the input list is not modified");
  });
}
