import assert from "node:assert/strict";
import { newRequestId, requestIdFor } from "../../lib/http/request_id.ts";

const h = (value: string) => ({ name: "X-Request-Id", value });

Deno.test("request IDs: 128 random bits as 32 hex digits, all different", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = newRequestId();
    assert.match(id, /^[0-9a-f]{32}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
});

Deno.test("request IDs: a trusted peer's one well-formed value is kept", () => {
  assert.equal(requestIdFor([h("abc-123")], "x-request-id", true), "abc-123");
  assert.equal(requestIdFor([{ name: "x-request-id", value: "v" }], "X-Request-Id", true), "v");
});

Deno.test("request IDs: an untrusted peer's value is replaced", () => {
  const id = requestIdFor([h("planted")], "X-Request-Id", false);
  assert.match(id, /^[0-9a-f]{32}$/);
});

Deno.test("request IDs: a trusted peer's missing, repeated, overlong or odd value is replaced", () => {
  for (const headers of [[], [h("a"), h("b")], [h("x".repeat(201))], [h("a b")], [h("a\u00e9")], [h("")]]) {
    assert.match(requestIdFor(headers, "X-Request-Id", true), /^[0-9a-f]{32}$/, JSON.stringify(headers));
  }
  assert.equal(requestIdFor([h("x".repeat(200))], "X-Request-Id", true), "x".repeat(200));
});
