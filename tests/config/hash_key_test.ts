import assert from "node:assert/strict";
import { parseHashKey } from "../../lib/config/hash_key.ts";
import type { HashKey } from "../../lib/config/schema.ts";

const SYNTAX = "must be header:NAME, cookie:NAME, query:NAME or ip";

Deno.test("parseHashKey() reads header:, cookie:, query: and ip", () => {
  const cases: [string, HashKey | { error: string }][] = [
    ["header:X-User-Id", { source: "header", name: "X-User-Id" }],
    ["cookie:sid", { source: "cookie", name: "sid" }],
    ["query:room", { source: "query", name: "room" }],
    ["ip", { source: "ip" }],
    ["header:", { error: `${SYNTAX}: the name after "header:" is missing` }],
    ["header:X User", { error: 'invalid header name "X User"' }],
    ["body:x", { error: `${SYNTAX}, not "body:x"` }],
    ["X-User-Id", { error: `${SYNTAX}, not "X-User-Id"` }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseHashKey(text), expected, text);
});
