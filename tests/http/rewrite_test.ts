import assert from "node:assert/strict";
import { rawPrefixEnd, rewriteTarget } from "../../lib/http/rewrite.ts";
import { matchRoute, routingPath } from "../../lib/route.ts";
import { HttpError } from "../../lib/errors.ts";
import type { RouteConfig } from "../../lib/config/schema.ts";

const STRIP = { strip: true, add: "" };

Deno.test("rewrite: strip_prefix on /api/ and on /api, query kept, empty remainder is /", () => {
  const cases: [string, string, string][] = [
    // [route prefix, request target, upstream target]
    ["/api/", "/api/x", "/x"],
    ["/api/", "/api/x/y?q=1&r", "/x/y?q=1&r"],
    ["/api/", "/api/", "/"],
    ["/api/", "/api/?q=1", "/?q=1"],
    ["/api", "/api", "/"],
    ["/api", "/api?q", "/?q"],
    ["/api", "/api/", "/"],
    ["/api", "/api/x", "/x"],
    ["/api", "/apix", "/x"],
    ["/", "/x?y", "/x?y"],
    ["/ping", "/ping", "/"],
  ];
  for (const [prefix, target, expected] of cases) {
    assert.equal(rewriteTarget(target, prefix, STRIP), expected, `${prefix} ${target}`);
  }
});

Deno.test("rewrite: add_prefix alone and after strip_prefix", () => {
  assert.equal(rewriteTarget("/api/x?q", "/api/", { strip: true, add: "/v2" }), "/v2/x?q");
  assert.equal(rewriteTarget("/api/", "/api/", { strip: true, add: "/v2" }), "/v2/");
  assert.equal(rewriteTarget("/api/x?q", "/api/", { strip: false, add: "/v2" }), "/v2/api/x?q");
  assert.equal(rewriteTarget("/api", "/api", { strip: true, add: "/a/b" }), "/a/b/");
});

Deno.test("rewrite: what follows the prefix keeps its encoding, an encoded prefix is found", () => {
  const cases: [string, string, string][] = [
    ["/api/", "/api/a%2Fb%20c?x=%0A", "/a%2Fb%20c?x=%0A"],
    ["/api/", "/%61pi/x", "/x"], // routing decodes %61 to "a"
    ["/api/", "/api%2Fadmin", "/admin"], // routing reads %2F as "/": the prefix ends there
    ["/api/", "/api%5Cx", "/x"], // an encoded backslash is a "/" to routing
    ["/api/", "/api;jsessionid=1/x", "/x"], // ;params count for nothing
    ["/api/", "/api/;p/x", "/;p/x"],
    ["/café/", "/caf%C3%A9/x", "/x"],
  ];
  for (const [prefix, target, expected] of cases) {
    assert.equal(rewriteTarget(target, prefix, STRIP), expected, `${prefix} ${target}`);
  }
});

Deno.test("rewrite: the upstream path starts with exactly one slash (// would name a host to URL parsers)", () => {
  const cases: [string, string, string][] = [
    ["/api/", "//api//evil.example/x", "/evil.example/x"],
    ["/api", "/api//evil.example/x?q", "/evil.example/x?q"],
    ["/api/", "/api///", "/"],
    // Encoded separators right after the prefix: routing merged them too, and a backend that
    // decodes before parsing would read "//evil.example".
    ["/api/", "/api/%2F%2Fevil.example/x", "/evil.example/x"],
    ["/api/", "/api/%2f/%5C%5cevil.example/x?q", "/evil.example/x?q"],
    ["/api", "/api%2F%2Fevil.example", "/evil.example"],
    // Only the run right after the prefix: later ones are the path's own, kept as sent.
    ["/api/", "/api/a/%2F%2Fb", "/a/%2F%2Fb"],
    ["/api/", "/api/%2Ex", "/%2Ex"],
  ];
  for (const [prefix, target, expected] of cases) {
    assert.equal(rewriteTarget(target, prefix, STRIP), expected, `${prefix} ${target}`);
  }
});

Deno.test("rewrite: every path routing sends to a route has its prefix found in the raw path", () => {
  const route: RouteConfig = {
    path: "/api/",
    match: "/api/",
    exact: false,
    upstream: "u",
    websocket_only: false,
    read_timeout: 0,
    send_timeout: 0,
    idle_timeout: 0,
  };
  const targets = ["/api/x", "//api/x", "/api//x", "/%61%70%69/x", "/api;a=b/x", "/api%2fx", "/a%70i;x;y/z"];
  for (const target of targets) {
    const routed = routingPath(target);
    assert.equal(matchRoute([route], routed), route, target);
    assert.notEqual(rawPrefixEnd(target, route.match), -1, target);
  }
});

Deno.test("rewrite: a raw path without the prefix is refused (400), not forwarded unstripped", () => {
  assert.equal(rawPrefixEnd("/other/x", "/api/"), -1);
  assert.equal(rawPrefixEnd("/ap", "/api/"), -1);
  assert.throws(
    () => rewriteTarget("/other/x", "/api/", STRIP),
    (err) => err instanceof HttpError && err.status === 400,
  );
});

Deno.test("rewrite: OPTIONS * is left alone", () => {
  assert.equal(rewriteTarget("*", "/", { strip: true, add: "/v2" }), "*");
});
