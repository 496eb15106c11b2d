import assert from "node:assert/strict";
import { hostName, matchRoute, matchServer, routingPath } from "../lib/route.ts";
import { HttpError } from "../lib/errors.ts";
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
  return {
    listen: [],
    routes: [route(`/${name}`)],
    proxy_protocol: false,
    keepalive_timeout: 0,
    max_requests_per_connection: 1,
    ...(hosts ? { hosts } : {}),
  };
}

Deno.test("hostName() drops the port, one trailing dot, and lowercases", () => {
  const cases: [string | undefined, string][] = [
    ["Example.COM:8020", "example.com"],
    ["example.com", "example.com"],
    ["[::1]:8020", "[::1]"],
    ["[::1]", "[::1]"],
    ["internal.example.", "internal.example"],
    ["Internal.Example.:8443", "internal.example"],
    ["a..", "a."], // only one dot goes,
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
    ["api.example.com.", "/api"],
    ["x.example.com.:443", "/wild"],
    [undefined, "/any"],
  ];
  for (const [host, expected] of cases) {
    assert.equal(matchServer(servers, host)?.routes[0]?.path, expected, host);
  }
});

Deno.test("matchServer() without a catch-all returns undefined for unknown hosts", () => {
  assert.equal(matchServer([server(["a.test"], "a")], "b.test"), undefined);
});

Deno.test("routingPath() decodes and merges slashes like nginx before matching", () => {
  const cases: [name: string, path: string, want: string][] = [
    ["plain", "/ws/chat", "/ws/chat"],
    ["query dropped, dots in it are no segment", "/ws?x=/../a", "/ws"],
    ["root", "/", "/"],
    ["merged slashes", "//admin//x", "/admin/x"],
    ["encoded slash counts as one", "/public%2fadmin/x", "/public/admin/x"],
    ["trailing slash kept", "/a/b/", "/a/b/"],
    ["dots inside a name are not segments", "/a/..b/.c/x../...", "/a/..b/.c/x../..."],
    ["a ;param is cut from its segment (Tomcat, Jetty)", "/admin;jsessionid=x/secret", "/admin/secret"],
    ["an empty ;param too", "/admin;/secret", "/admin/secret"],
    ["an encoded ;param too", "/admin%3b/secret", "/admin/secret"],
    ["a param that looks like dots is a param", "/a/x;..", "/a/x"],
    ["an encoded backslash is a separator (WHATWG URL)", "/admin%5csecret", "/admin/secret"],
    ["UTF-8 escape", "/caf%C3%A9", "/café"],
    ["not UTF-8: matched, not refused", "/l%E9", "/l\uFFFD"],
    ["asterisk-form", "*", "*"],
  ];
  for (const [name, path, want] of cases) assert.equal(routingPath(path), want, name);
});

Deno.test("routingPath() refuses dot-segments, bad escapes and NUL with 400", () => {
  const cases: [name: string, path: string, why: RegExp][] = [
    ["dot-dot", "/public/../admin/x", /dot-segment/],
    ["dot-dot at the end", "/admin/..", /dot-segment/],
    ["dot", "/public/./x", /dot-segment/],
    ["trailing dot", "/admin/.", /dot-segment/],
    ["above the root", "/../etc", /dot-segment/],
    ["encoded dot-dot", "/admin/%2e%2e/", /dot-segment/],
    ["upper-case escapes", "/admin/%2E%2E", /dot-segment/],
    ["half encoded", "/admin/.%2e/", /dot-segment/],
    ["encoded slash around dots", "/public%2f..%2fadmin/x", /dot-segment/],
    ["backslash separators", "/public\\..\\admin", /dot-segment/],
    ["encoded backslash", "/public%5c..%5cadmin", /dot-segment/],
    ["Tomcat path parameter", "/public/..;/admin/", /dot-segment/],
    ["Tomcat path parameter with a value", "/public/..;x=1/admin/", /dot-segment/],
    ["double-encoded dots", "/x/%252e%252e/admin", /double-encoded/],
    ["double-encoded slash", "/x%252fadmin", /double-encoded/],
    ["overlong UTF-8 dot", "/x/%c0%ae%c0%ae/admin", /overlong/],
    ["overlong 3-byte", "/x/%e0%80%ae", /overlong/],
    ["encoded LF", "/x%0a", /control character/],
    ["encoded CR", "/x%0d%0aSet-Cookie:a", /control character/],
    ["encoded DEL", "/x%7f", /control character/],
    ["bad escape", "/a%zz", /bad %-escape/],
    ["cut escape", "/a%2", /bad %-escape/],
    ["encoded NUL", "/a%00b", /control character/],
  ];
  for (const [name, path, why] of cases) {
    assert.throws(() => routingPath(path), (err: unknown) => {
      assert.ok(err instanceof HttpError, name);
      assert.equal(err.status, 400, name);
      assert.match(err.message, why, name);
      return true;
    });
  }
});
