import assert from "node:assert/strict";
import { extractHashKey, type KeySource, pickContext } from "../../lib/balance/hash_key.ts";
import type { HashKey } from "../../lib/config/schema.ts";
import type { Header } from "../../lib/http/headers.ts";
import type { Addr } from "../../lib/net/address.ts";

const TCP: Addr = { transport: "tcp", hostname: "203.0.113.9", port: 50_000 };

Deno.test("extractHashKey() finds the value, or undefined when it is absent or empty", () => {
  const headers = (...lines: [string, string][]): Header[] => lines.map(([name, value]) => ({ name, value }));
  const cases: {
    name: string;
    key: HashKey;
    headers?: Header[];
    path?: string;
    remote?: Addr;
    expected?: string;
  }[] = [
    {
      name: "header, any case",
      key: { source: "header", name: "X-User-Id" },
      headers: headers(["x-user-id", "u42"]),
      expected: "u42",
    },
    {
      name: "repeated header, joined",
      key: { source: "header", name: "X-Tag" },
      headers: headers(["X-Tag", "a"], ["X-Tag", "b"]),
      expected: "a, b",
    },
    { name: "header absent", key: { source: "header", name: "X-User-Id" } },
    {
      name: "header empty",
      key: { source: "header", name: "X-User-Id" },
      headers: headers(["X-User-Id", ""]),
    },
    {
      name: "cookie among others",
      key: { source: "cookie", name: "sid" },
      headers: headers(["Cookie", "theme=dark; sid=abc123 ;lang=en"]),
      expected: "abc123",
    },
    {
      name: "cookie in a second Cookie field",
      key: { source: "cookie", name: "sid" },
      headers: headers(["Cookie", "a=1"], ["Cookie", "sid=x"]),
      expected: "x",
    },
    {
      name: "cookie name is exact, not a suffix",
      key: { source: "cookie", name: "sid" },
      headers: headers(["Cookie", "xsid=1"]),
    },
    {
      name: "query",
      key: { source: "query", name: "room" },
      path: "/ws?user=1&room=lobby",
      expected: "lobby",
    },
    {
      name: "query, percent-decoded",
      key: { source: "query", name: "room" },
      path: "/ws?room=caf%C3%A9+bar",
      expected: "café bar",
    },
    {
      name: "query, bad escape kept",
      key: { source: "query", name: "room" },
      path: "/?room=%zz",
      expected: "%zz",
    },
    { name: "query absent", key: { source: "query", name: "room" }, path: "/ws?roomy=1" },
    { name: "no query at all", key: { source: "query", name: "room" }, path: "/ws" },
    { name: "ip: whole address", key: { source: "ip" }, expected: "203.0.113.9" },
    { name: "ip over a unix socket", key: { source: "ip" }, remote: { transport: "unix", path: "/s" } },
  ];
  for (const c of cases) {
    const request: KeySource = { headers: c.headers ?? [], path: c.path ?? "/", remote: c.remote ?? TCP };
    assert.equal(extractHashKey(c.key, request), c.expected, c.name);
  }
});

Deno.test("pickContext() extracts the key once, on first use", () => {
  let reads = 0;
  const headers: Header[] = [{ name: "X-User-Id", value: "u7" }];
  const counted = new Proxy(headers, {
    get(target, property, receiver) {
      if (property === "length") reads++;
      return Reflect.get(target, property, receiver);
    },
  });
  const ctx = pickContext({ source: "header", name: "X-User-Id" }, {
    headers: counted,
    path: "/",
    remote: TCP,
  });
  assert.equal(reads, 0);
  assert.equal(ctx.hashKey(), "u7");
  const afterFirst = reads;
  assert.equal(ctx.hashKey(), "u7");
  assert.equal(reads, afterFirst);
  assert.equal(ctx.clientIp, "203.0.113.9");
  assert.equal(pickContext(undefined, { headers, path: "/", remote: TCP }).hashKey(), undefined);
});
