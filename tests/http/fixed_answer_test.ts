import assert from "node:assert/strict";
import { fixedAnswer, safeLocation } from "../../lib/http/fixed_answer.ts";
import { parseTemplate, type Template } from "../../lib/net/placeholders.ts";
import type { FixedAnswer } from "../../lib/config/schema.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const redirect = (status: 301 | 302 | 303 | 307 | 308): FixedAnswer => ({
  kind: "redirect",
  status,
  to: parseTemplate("https://{host}{uri}") as Template,
});

Deno.test("fixed answers: a redirect carries Location and no body", () => {
  const { bytes, bodyBytes } = fixedAnswer(redirect(308), {
    method: "GET",
    location: "https://a.example/x?y",
  });
  assert.equal(
    text(bytes),
    "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://a.example/x?y\r\nContent-Length: 0\r\n" +
      "Connection: close\r\n\r\n",
  );
  assert.equal(bodyBytes, 0);
  for (
    const [status, reason] of [[301, "Moved Permanently"], [302, "Found"], [303, "See Other"], [
      307,
      "Temporary Redirect",
    ]] as const
  ) {
    assert.match(
      text(fixedAnswer(redirect(status), { method: "GET", location: "/" }).bytes),
      new RegExp(`^HTTP/1.1 ${status} ${reason}\r\n`),
    );
  }
});

Deno.test("fixed answers: respond writes its body with its length and type; HEAD gets the head alone", () => {
  const answer: FixedAnswer = { kind: "respond", status: 200, body: "ok ✓\n", content_type: "text/plain" };
  const get = fixedAnswer(answer, { method: "GET" });
  assert.equal(
    text(get.bytes),
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: close\r\n\r\nok ✓\n",
  );
  assert.equal(get.bodyBytes, 7);
  const head = fixedAnswer(answer, { method: "HEAD" });
  assert.equal(
    text(head.bytes),
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: close\r\n\r\n",
  );
  assert.equal(head.bodyBytes, 0);
});

Deno.test("fixed answers: 204 has neither body nor Content-Length; an unnamed status has an empty reason", () => {
  const none = fixedAnswer({ kind: "respond", status: 204, body: "", content_type: "text/plain" }, {
    method: "GET",
  });
  assert.equal(
    text(none.bytes),
    "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
  );
  const odd = fixedAnswer({ kind: "respond", status: 299, body: "", content_type: "text/plain" }, {
    method: "GET",
  });
  assert.match(text(odd.bytes), /^HTTP\/1\.1 299\r\n/);
});

Deno.test("fixed answers: the route's response_headers edit the answer's own headers", () => {
  const { bytes } = fixedAnswer(redirect(301), {
    method: "GET",
    location: "/x",
    edit: (headers) => [...headers, { name: "Strict-Transport-Security", value: "max-age=1" }],
  });
  assert.match(
    text(bytes),
    /\r\nLocation: \/x\r\nStrict-Transport-Security: max-age=1\r\nContent-Length: 0\r\n/,
  );
});

Deno.test("fixed answers: a relative Location starts with one slash (no //host open redirect)", () => {
  const cases: [string, string][] = [
    ["//evil.example/x", "/evil.example/x"],
    ["///evil.example", "/evil.example"],
    ["/\\evil.example", "/evil.example"],
    ["/ok?x", "/ok?x"],
    ["https://a.example//x", "https://a.example//x"],
  ];
  for (const [rendered, location] of cases) assert.equal(safeLocation(rendered), location, rendered);
});
