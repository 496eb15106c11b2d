import assert from "node:assert/strict";
import { matchesHostPattern } from "../../lib/net/host_pattern.ts";

Deno.test("matchesHostPattern: exact names and *. wildcards, any case; a wildcard never matches its apex", () => {
  const cases: [pattern: string, name: string, want: boolean][] = [
    ["chat.example.com", "chat.example.com", true],
    ["Chat.Example.com", "chat.EXAMPLE.com", true],
    ["chat.example.com", "example.com", false],
    ["*.example.com", "a.example.com", true],
    ["*.example.com", "a.b.example.com", true],
    ["*.example.com", "example.com", false],
    ["*.example.com", ".example.com", false],
    ["*.example.com", "evilexample.com", false],
    ["*.example.com", "a.example.com.evil", false],
  ];
  for (const [pattern, name, want] of cases) {
    assert.equal(matchesHostPattern(pattern, name), want, `${pattern} ~ ${name}`);
  }
});
