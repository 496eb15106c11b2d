import assert from "node:assert/strict";
import {
  parseTemplate,
  PLACEHOLDERS,
  renderTemplate,
  type RequestFacts,
  type Template,
  usesPlaceholder,
  utf8Bytes,
} from "../../lib/net/placeholders.ts";

const FACTS: RequestFacts = {
  clientIp: "192.0.2.7",
  clientPort: "51234",
  host: "chat.example.com",
  uri: "/api/a%2Fb?x=1&y",
  scheme: "https",
  requestId: "0123456789abcdef0123456789abcdef",
};

function template(source: string): Template {
  const parsed = parseTemplate(source);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed;
}

const render = (source: string, facts: RequestFacts = FACTS) => renderTemplate(template(source), facts);

Deno.test("placeholders: each one renders its fact", () => {
  const expected: Record<(typeof PLACEHOLDERS)[number], string> = {
    client_ip: "192.0.2.7",
    client_port: "51234",
    host: "chat.example.com",
    uri: "/api/a%2Fb?x=1&y",
    path: "/api/a%2Fb",
    query: "x=1&y",
    scheme: "https",
    request_id: "0123456789abcdef0123456789abcdef",
    "tls.client.subject": "",
    "tls.client.fingerprint": "",
    "tls.client.verified": "",
  };
  for (const [name, value] of Object.entries(expected)) assert.equal(render(`{${name}}`), value, name);
  assert.equal(render("https://{host}{uri}"), "https://chat.example.com/api/a%2Fb?x=1&y");
  assert.equal(render("{query}", { ...FACTS, uri: "/no-query" }), "");
  assert.equal(render("{path}", { ...FACTS, uri: "/p?" }), "/p");
});

Deno.test("placeholders: a client certificate renders its subject (as UTF-8 bytes), fingerprint and verdict", () => {
  const facts = {
    ...FACTS,
    clientCert: { subject: "CN=zoë,O=Example", fingerprint: "ab".repeat(32), verified: false },
  };
  assert.equal(render("{tls.client.subject}", facts), "CN=zo\u00c3\u00ab,O=Example");
  assert.equal(render("{tls.client.fingerprint}", facts), "ab".repeat(32));
  assert.equal(render("{tls.client.verified}", facts), "false");
});

Deno.test("placeholders: {jwt.CLAIM} renders scalars and lists of scalars; anything else and absent claims render empty", () => {
  const facts = {
    ...FACTS,
    claims: {
      sub: "alice",
      n: 42,
      admin: true,
      roles: ["a", "b", 3],
      "https://example.com/tenant": "t1",
      obj: { a: 1 },
      nested: [{ a: 1 }],
      nul: null,
    },
  };
  assert.equal(render("{jwt.sub}", facts), "alice");
  assert.equal(render("{jwt.n}/{jwt.admin}", facts), "42/true");
  assert.equal(render("{jwt.roles}", facts), "a,b,3");
  assert.equal(render("{jwt.https://example.com/tenant}", facts), "t1");
  for (const name of ["obj", "nested", "nul", "missing"]) assert.equal(render(`{jwt.${name}}`, facts), "");
  assert.equal(render("{jwt.sub}"), "", "no claims at all");
});

Deno.test("placeholders: {{ is a literal brace; literal text is kept as UTF-8 bytes", () => {
  assert.equal(render("{{host}"), "{host}");
  assert.equal(render('{{"a": "{host}"}'), '{"a": "chat.example.com"}');
  assert.equal(render("x}y"), "x}y");
  assert.equal(render("café {scheme}"), "caf\u00c3\u00a9 https");
  assert.equal(utf8Bytes("plain"), "plain");
  assert.equal(utf8Bytes("日"), "\u00e6\u0097\u00a5");
});

Deno.test("placeholders: a template without placeholders renders to itself", () => {
  assert.equal(render("max-age=31536000"), "max-age=31536000");
  assert.equal(render(""), "");
});

Deno.test("placeholders: unknown names, bad claim names and unclosed braces are errors", () => {
  const errors: [string, string][] = [
    ["{clinet_ip}", 'unknown placeholder "{clinet_ip}"'],
    ["{}", 'unknown placeholder "{}"'],
    ["{HOST}", 'unknown placeholder "{HOST}"'],
    ["{tls.client}", 'unknown placeholder "{tls.client}"'],
    ["{jwt.}", 'invalid claim name in placeholder "{jwt.}"'],
    ["{jwt.a b}", 'invalid claim name in placeholder "{jwt.a b}"'],
    ["https://{host", 'unclosed placeholder at "{host" (write {{ for a literal {)'],
  ];
  for (const [source, error] of errors) {
    const parsed = parseTemplate(source);
    assert.ok("error" in parsed, source);
    assert.equal(parsed.error, error);
  }
});

Deno.test("placeholders: usesPlaceholder finds a named placeholder", () => {
  assert.equal(usesPlaceholder(template("id={request_id}"), "request_id"), true);
  assert.equal(usesPlaceholder(template("{{request_id}"), "request_id"), false);
});
