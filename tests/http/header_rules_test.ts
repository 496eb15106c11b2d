import assert from "node:assert/strict";
import { applyHeaderRules, MAX_RENDERED_BYTES, type SkipReason } from "../../lib/http/header_rules.ts";
import { parseTemplate, type RequestFacts, type Template } from "../../lib/net/placeholders.ts";
import type { Header } from "../../lib/http/headers.ts";
import type { HeaderRules, HeaderTemplate } from "../../lib/config/schema.ts";

const FACTS: RequestFacts = {
  clientIp: "192.0.2.7",
  clientPort: "51234",
  host: "chat.example.com",
  uri: "/x?y",
  scheme: "http",
  requestId: "r1",
};

function rule(name: string, source: string): HeaderTemplate {
  const value = parseTemplate(source) as Template;
  return { name, lower: name.toLowerCase(), value };
}

function apply(headers: Header[], rules: Partial<HeaderRules>, facts = FACTS) {
  const skipped: [string, SkipReason][] = [];
  const out = applyHeaderRules(
    headers,
    { drop: [], set: [], add: [], ...rules },
    facts,
    (name, reason) => skipped.push([name, reason]),
  );
  return { out: out.map((h) => `${h.name}: ${h.value}`), skipped };
}

const h = (name: string, value: string): Header => ({ name, value });

Deno.test("header rules: remove, then set (the client's value gone), then add, in order", () => {
  const { out, skipped } = apply(
    [h("Host", "a"), h("Cookie", "c=1"), h("x-env", "forged"), h("X-Tag", "client"), h("Accept", "*/*")],
    {
      drop: ["cookie", "x-env"],
      set: [rule("X-Env", "prod"), rule("X-Client", "{client_ip}:{client_port}")],
      add: [rule("X-Tag", "edge")],
    },
  );
  assert.deepEqual(out, [
    "Host: a",
    "X-Tag: client",
    "Accept: */*",
    "X-Env: prod",
    "X-Client: 192.0.2.7:51234",
    "X-Tag: edge",
  ]);
  assert.deepEqual(skipped, []);
});

Deno.test("header rules: a value that renders empty is not sent, and the client's value stays removed", () => {
  const { out, skipped } = apply([h("X-Client-Subject", "CN=forged")], {
    drop: ["x-client-subject"],
    set: [rule("X-Client-Subject", "{tls.client.subject}")],
  });
  assert.deepEqual(out, []);
  assert.deepEqual(skipped, [["X-Client-Subject", "empty"]]);
});

Deno.test("header rules: values with a control byte from a claim or a subject are not sent", () => {
  for (const bad of ["a\r\nX-Admin: 1", "a\nb", "a\u0000b", "a\tb", "a\u007fb"]) {
    const facts = { ...FACTS, claims: { sub: bad } };
    const { out, skipped } = apply([], {
      set: [rule("X-User", "{jwt.sub}")],
      add: [rule("X-U2", "u={jwt.sub}")],
    }, facts);
    assert.deepEqual(out, [], JSON.stringify(bad));
    assert.deepEqual(skipped, [["X-User", "control character"], ["X-U2", "control character"]]);
  }
  // Bytes of UTF-8 (0x80-0xFF as chars) are not control bytes.
  const { out } = apply([], { set: [rule("X-User", "{jwt.sub}")] }, { ...FACTS, claims: { sub: "zoë" } });
  assert.deepEqual(out, ["X-User: zo\u00c3\u00ab"]);
});

Deno.test("header rules: a value rendered longer than MAX_RENDERED_BYTES is not sent", () => {
  const uri = `/${"a".repeat(MAX_RENDERED_BYTES / 2)}`;
  const { out, skipped } = apply([], { set: [rule("X-Uri", "{uri}{uri}"), rule("X-One", "{uri}")] }, {
    ...FACTS,
    uri,
  });
  assert.deepEqual(out, [`X-One: ${uri}`]);
  assert.deepEqual(skipped, [["X-Uri", "too long"]]);
});

Deno.test("header rules: set Host replaces the client's; a Host that cannot be sent leaves the client's", () => {
  const headers = [h("Host", "chat.example.com"), h("Accept", "*/*")];
  assert.deepEqual(apply(headers, { set: [rule("Host", "backend.internal")] }).out, [
    "Accept: */*",
    "Host: backend.internal",
  ]);
  const { out, skipped } = apply(headers, { set: [rule("Host", "{tls.client.subject}")] });
  assert.deepEqual(out, ["Host: chat.example.com", "Accept: */*"]);
  assert.deepEqual(skipped, [["Host", "empty"]]);
});

Deno.test("header rules: the input list is not changed", () => {
  const headers = [h("A", "1")];
  apply(headers, { drop: ["a"], add: [rule("B", "2")] });
  assert.deepEqual(headers, [h("A", "1")]);
});
