import assert from "node:assert/strict";
import { claimHeaders, renderClaim } from "../../../lib/admit/auth/claims.ts";

Deno.test("claimHeaders: strings, numbers, booleans, lists and objects; absent claims send nothing", () => {
  const claims = {
    sub: "alice",
    uid: 42,
    admin: false,
    roles: ["a", "b"],
    org: { id: 7 },
    name: "Zoë",
  };
  const { headers, skipped } = claimHeaders(claims, [
    ["X-User-Id", "sub"],
    ["X-Uid", "uid"],
    ["X-Admin", "admin"],
    ["X-Roles", "roles"],
    ["X-Org", "org"],
    ["X-Name", "name"],
    ["X-Email", "email"],
  ]);
  assert.deepEqual(headers, [
    { name: "X-User-Id", value: "alice" },
    { name: "X-Uid", value: "42" },
    { name: "X-Admin", value: "false" },
    { name: "X-Roles", value: "a, b" },
    { name: "X-Org", value: '{"id":7}' },
    // UTF-8 bytes, one char each (heads are serialised byte for byte).
    { name: "X-Name", value: "Zo\xc3\xab" },
  ]);
  assert.deepEqual(skipped, []);
});

Deno.test("claimHeaders: a claim that would split a header, an empty or a huge one is not sent", () => {
  const { headers, skipped } = claimHeaders(
    { a: "x\r\nX-Admin: yes", b: "", c: "nul\0", d: "y".repeat(9_000), e: ["ok", "\n"] },
    [["X-A", "a"], ["X-B", "b"], ["X-C", "c"], ["X-D", "d"], ["X-E", "e"]],
  );
  assert.deepEqual(headers, []);
  assert.deepEqual(skipped, ["X-A", "X-B", "X-C", "X-D", "X-E"]);
});

Deno.test("renderClaim", () => {
  assert.equal(renderClaim(undefined), undefined);
  assert.equal(renderClaim(null), undefined);
  assert.equal(renderClaim([1, 2]), "[1,2]");
});
