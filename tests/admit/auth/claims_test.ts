import assert from "node:assert/strict";
import { claimHeaders } from "../../../lib/admit/auth/claims.ts";

Deno.test("claimHeaders: strings, numbers, booleans and lists, like {jwt.CLAIM}; absent claims send nothing", () => {
  const claims = { sub: "alice", uid: 42, admin: false, roles: ["a", "b"], name: "Zoë" };
  const { headers, skipped } = claimHeaders(claims, [
    ["X-User-Id", "sub"],
    ["X-Uid", "uid"],
    ["X-Admin", "admin"],
    ["X-Roles", "roles"],
    ["X-Name", "name"],
    ["X-Email", "email"],
  ]);
  assert.deepEqual(headers, [
    { name: "X-User-Id", value: "alice" },
    { name: "X-Uid", value: "42" },
    { name: "X-Admin", value: "false" },
    { name: "X-Roles", value: "a,b" },
    // UTF-8 bytes, one char each (heads are serialised byte for byte).
    { name: "X-Name", value: "Zo\xc3\xab" },
  ]);
  assert.deepEqual(skipped, []);
});

Deno.test("claimHeaders: a claim that would split a header, an empty, huge or object one is not sent", () => {
  const { headers, skipped } = claimHeaders(
    {
      a: "x\r\nX-Admin: yes",
      b: "",
      c: "nul\0",
      d: "y".repeat(9_000),
      e: ["ok", "\n"],
      f: { id: 7 },
      g: null,
    },
    [["X-A", "a"], ["X-B", "b"], ["X-C", "c"], ["X-D", "d"], ["X-E", "e"], ["X-F", "f"], ["X-G", "g"]],
  );
  assert.deepEqual(headers, []);
  assert.deepEqual(skipped, ["X-A", "X-B", "X-C", "X-D", "X-E", "X-F", "X-G"]);
});
