import assert from "node:assert/strict";
import { hostName, matchRoute, matchServer, routingPath } from "../lib/route.ts";
import type { RouteConfig, ServerConfig } from "../lib/config/schema.ts";

function route(path: string): RouteConfig {
  const exact = path.startsWith("= ");
  return {
    path,
    match: exact ? path.slice(2) : path,
    exact,
    upstream: "u",
    websocket_only: false,
    read_timeout: 0,
    send_timeout: 0,
    idle_timeout: 0,
  };
}

function server(hosts: string[] | undefined, name: string): ServerConfig {
  return { listen: [], routes: [route(`/${name}`)], proxy_protocol: false, ...(hosts ? { hosts } : {}) };
}

Deno.test("hostName() drops the port and lowercases", () => {
  const cases: [string | undefined, string][] = [
    ["Example.COM:8020", "example.com"],
    ["example.com", "example.com"],
    ["[::1]:8020", "[::1]"],
    ["[::1]", "[::1]"],
    [undefined, ""],
  ];
  for (const [input, expected] of cases) assert.equal(hostName(input), expected, String(input));
});

Deno.test("matchRoute() prefers exact, then the longest prefix, ignoring the query", () => {
  const routes = [route("/"), route("/chat/"), route("/chat/room/"), route("= /chat/exact")];
  const cases: [string, string | undefined][] = [
    ["/", "/"],
    ["/other", "/"],
    ["/chat/", "/chat/"],
    ["/chat/x?y=1", "/chat/"],
    ["/chat/room/1", "/chat/room/"],
    ["/chat/exact", "= /chat/exact"],
    ["/chat/exact?q=1", "= /chat/exact"],
    ["/chat/exactly", "/chat/"],
  ];
  for (const [path, expected] of cases) assert.equal(matchRoute(routes, path)?.path, expected, path);
});

Deno.test("matchRoute() is a plain string prefix match, like nginx location", () => {
  const routes = [route("/ws")];
  assert.equal(matchRoute(routes, "/wsx")?.path, "/ws");
  assert.equal(matchRoute(routes, "/w"), undefined);
  assert.equal(matchRoute([route("= /only")], "/only/"), undefined);
});

Deno.test("matchServer() picks exact host, then the longest wildcard, then the catch-all", () => {
  const servers = [
    server(["*.example.com"], "wild"),
    server(["*.chat.example.com"], "wild2"),
    server(["api.example.com"], "api"),
    server(undefined, "any"),
  ];
  const cases: [string | undefined, string][] = [
    ["api.example.com", "/api"],
    ["API.example.com:443", "/api"],
    ["x.example.com", "/wild"],
    ["a.chat.example.com", "/wild2"],
    ["example.com", "/any"],
    ["other.org", "/any"],
    [undefined, "/any"],
  ];
  for (const [host, expected] of cases) {
    assert.equal(matchServer(servers, host)?.routes[0]?.path, expected, host);
  }
});

Deno.test("matchServer() without a catch-all returns undefined for unknown hosts", () => {
  assert.equal(matchServer([server(["a.test"], "a")], "b.test"), undefined);
});

Deno.test("routingPath() normalises like nginx before matching: decode, merge slashes, resolve dots", () => {
  const cases: [name: string, path: string, want: string | undefined][] = [
    ["plain", "/ws/chat", "/ws/chat"],
    ["query dropped", "/ws?x=/../a", "/ws"],
    ["root", "/", "/"],
    ["dot-dot", "/public/../admin/x", "/admin/x"],
    ["encoded dot-dot", "/public/%2e%2e/admin/x", "/admin/x"],
    ["upper-case escapes", "/public/%2E%2E/admin/x", "/admin/x"],
    ["dot", "/public/./../admin/x", "/admin/x"],
    ["encoded slash", "/public%2f..%2fadmin/x", "/admin/x"],
    ["merged slashes", "//admin//x", "/admin/x"],
    ["trailing slash kept", "/a/b/", "/a/b/"],
    ["trailing dot-dot names a directory", "/a/b/..", "/a/"],
    ["back to the root", "/a/..", "/"],
    ["dots inside a name are not segments", "/a/..b/.c/x..", "/a/..b/.c/x.."],
    ["UTF-8 escape", "/caf%C3%A9", "/café"],
    ["not UTF-8: matched, not refused", "/l%E9", "/l\uFFFD"],
    ["asterisk-form", "*", "*"],
    ["above the root", "/../etc", undefined],
    ["encoded above the root", "/a/%2e%2e/%2e%2e/x", undefined],
    ["bad escape", "/a%zz", undefined],
    ["cut escape", "/a%2", undefined],
    ["encoded NUL", "/a%00b", undefined],
  ];
  for (const [name, path, want] of cases) assert.equal(routingPath(path), want, name);
});

Deno.test("matchRoute() on a routing path: a dot-segment cannot reach another route's backend", () => {
  const routes = [route("/public/"), route("/admin/")];
  assert.equal(matchRoute(routes, routingPath("/public/../admin/x")!)?.path, "/admin/");
});
