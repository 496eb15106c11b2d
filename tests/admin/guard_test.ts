import assert from "node:assert/strict";
import { bearerMatches, constantTimeEqual } from "../../lib/admin/bearer.ts";
import { crossSiteReason, sameOrigin } from "../../lib/admin/csrf.ts";
import { type AdminPolicy, refusal } from "../../lib/admin/guard.ts";
import { hostAllowed } from "../../lib/admin/host.ts";
import type { Header } from "../../lib/http/headers.ts";

Deno.test("hostAllowed: loopback names and IP literals, listed names, nothing else", () => {
  const listed = ["admin.example.com"];
  const cases: [string | undefined, boolean][] = [
    ["localhost", true],
    ["localhost:9090", true],
    ["LOCALHOST:9090", true],
    ["localhost.:9090", true],
    ["127.0.0.1", true],
    ["127.0.0.1:9090", true],
    ["127.1.2.3:9090", true],
    ["[::1]", true],
    ["[::1]:9090", true],
    ["[::FFFF:127.0.0.1]:9090", true],
    ["10.0.0.7:9090", true], // any IP literal: a literal cannot be rebound
    ["admin.example.com:9090", true],
    ["ADMIN.example.com.", true],
    ["evil.test", false],
    ["evil.test:9090", false],
    ["localhost.evil.test", false],
    ["admin.example.com.evil.test", false],
    ["127.0.0.1.evil.test", false],
    ["0127.0.0.1", false], // octal to some resolvers: not a literal here
    ["2130706433", false],
    ["::1", false], // IPv6 only in brackets
    ["[fe80::1%25eth0]", false],
    ["[::1", false],
    ["", false],
    [undefined, false],
  ];
  for (const [host, allowed] of cases) assert.equal(hostAllowed(host, listed), allowed, String(host));
});

Deno.test("sameOrigin: http://<Host> only, default port folded, case and trailing dot ignored", () => {
  const cases: [string, string | undefined, boolean][] = [
    ["http://127.0.0.1:9090", "127.0.0.1:9090", true],
    ["HTTP://LOCALHOST:9090", "localhost:9090", true],
    ["http://localhost.:9090", "localhost:9090", true],
    ["http://[::1]:9090", "[::1]:9090", true],
    ["http://localhost", "localhost:80", true],
    ["http://localhost:80", "localhost", true],
    ["http://127.0.0.1:9091", "127.0.0.1:9090", false], // another port is another origin
    ["http://127.0.0.1", "127.0.0.1:9090", false],
    ["https://127.0.0.1:9090", "127.0.0.1:9090", false],
    ["http://localhost:9090", "127.0.0.1:9090", false],
    ["https://evil.test", "127.0.0.1:9090", false],
    ["null", "127.0.0.1:9090", false],
    ["http://127.0.0.1:9090/", "127.0.0.1:9090", false],
    ["http://user@127.0.0.1:9090", "127.0.0.1:9090", false],
    ["", "127.0.0.1:9090", false],
    ["http://127.0.0.1:9090", undefined, false],
  ];
  for (const [origin, host, same] of cases) {
    assert.equal(sameOrigin(origin, host), same, `${origin} vs ${host}`);
  }
});

Deno.test("crossSiteReason: a foreign Origin or Sec-Fetch-Site cross-site/same-site", () => {
  const host = "127.0.0.1:9090";
  const reason = (origins: string[], fetchSites: string[]) => crossSiteReason({ origins, fetchSites, host });
  assert.equal(reason([], []), undefined, "curl: neither header");
  assert.equal(reason(["http://127.0.0.1:9090"], ["same-origin"]), undefined, "the status page itself");
  assert.equal(reason([], ["none"]), undefined, "typed into the address bar");
  assert.equal(reason(["https://evil.test"], []), 'Origin "https://evil.test" is not this admin listener');
  assert.equal(reason(["null"], []), 'Origin "null" is not this admin listener');
  assert.equal(
    reason(["http://127.0.0.1:9090", "https://evil.test"], []),
    'Origin "https://evil.test" is not this admin listener',
  );
  assert.equal(reason([], ["cross-site"]), "Sec-Fetch-Site: cross-site");
  assert.equal(reason([], [" Same-Site "]), "Sec-Fetch-Site: same-site");
  assert.equal(reason(["http://127.0.0.1:9090"], ["same-site"]), "Sec-Fetch-Site: same-site");
});

Deno.test("bearerMatches: one Authorization with the exact token", () => {
  const token = "s3cr3t-t0ken";
  assert.equal(bearerMatches([`Bearer ${token}`], token), true);
  assert.equal(bearerMatches([`bearer  ${token}`], token), true, "the scheme is case-insensitive");
  assert.equal(bearerMatches([], token), false);
  assert.equal(bearerMatches([`Bearer ${token}x`], token), false);
  assert.equal(bearerMatches([`Bearer ${token.slice(0, -1)}`], token), false);
  assert.equal(bearerMatches([`Bearer ${token.toUpperCase()}`], token), false);
  assert.equal(bearerMatches([`Basic ${btoa(`x:${token}`)}`], token), false);
  assert.equal(bearerMatches([`Bearer ${token}`, `Bearer ${token}`], token), false, "two is one too many");
  assert.equal(bearerMatches(["Bearer"], token), false);
  const bytes = (s: string) => new TextEncoder().encode(s);
  assert.equal(constantTimeEqual(bytes("abc"), bytes("abc")), true);
  assert.equal(constantTimeEqual(bytes(""), bytes("abc")), false);
  assert.equal(constantTimeEqual(bytes("abcd"), bytes("abc")), false);
  assert.equal(constantTimeEqual(bytes("abd"), bytes("abc")), false);
});

function request(method: string, path: string, headers: [string, string][]) {
  return { method, path, headers: headers.map(([name, value]): Header => ({ name, value })) };
}

Deno.test("refusal: 421 for a foreign Host, then 403 for a cross-site POST, then 401 without the token", () => {
  const open: AdminPolicy = { hosts: [], unixSocket: false };
  const host: [string, string] = ["Host", "127.0.0.1:9090"];
  const status = (policy: AdminPolicy, method: string, path: string, headers: [string, string][]) =>
    refusal(request(method, path, headers), policy)?.status;

  assert.equal(status(open, "GET", "/status.json", [host]), undefined);
  assert.equal(status(open, "GET", "/status.json", [["Host", "evil.test:9090"]]), 421);
  assert.equal(status(open, "GET", "/healthz", [["Host", "evil.test"]]), 421, "every path");
  assert.equal(status(open, "GET", "/status.json", []), 421, "no Host (HTTP/1.0)");
  assert.equal(status({ ...open, unixSocket: true }, "GET", "/status.json", []), undefined, "unix socket");
  assert.equal(
    status({ ...open, unixSocket: true }, "GET", "/status.json", [["Host", "evil.test"]]),
    undefined,
  );
  assert.equal(
    status({ ...open, hosts: ["gw.internal"] }, "GET", "/", [["Host", "GW.internal:9090"]]),
    undefined,
  );

  const evil: [string, string][] = [host, ["Origin", "https://evil.test"], ["Sec-Fetch-Site", "cross-site"]];
  assert.equal(status(open, "POST", "/reload", evil), 403);
  assert.equal(status(open, "POST", "/upstreams/app/servers/x/drain", [host, ["Origin", "null"]]), 403);
  assert.equal(status(open, "POST", "/reload", [host, ["Sec-Fetch-Site", "same-site"]]), 403);
  assert.equal(status(open, "DELETE", "/reload", [host, ["Origin", "https://evil.test"]]), 403);
  assert.equal(status(open, "GET", "/status.json", evil), undefined, "reading is not changing");
  assert.equal(
    status(open, "POST", "/reload", [host, ["Origin", "http://127.0.0.1:9090"], [
      "Sec-Fetch-Site",
      "same-origin",
    ]]),
    undefined,
  );
  assert.equal(status(open, "POST", "/reload", [host]), undefined, "curl");

  const locked: AdminPolicy = { ...open, token: "t0ken" };
  const auth: [string, string] = ["Authorization", "Bearer t0ken"];
  assert.equal(status(locked, "GET", "/healthz", [host]), undefined, "/healthz needs no token");
  assert.equal(status(locked, "GET", "/healthz?full", [host]), undefined);
  for (const path of ["/status", "/status.json", "/metrics", "/nope"]) {
    assert.equal(status(locked, "GET", path, [host]), 401, path);
    assert.equal(status(locked, "GET", path, [host, ["Authorization", "Bearer wrong"]]), 401, path);
    assert.equal(status(locked, "GET", path, [host, auth]), undefined, path);
  }
  assert.equal(status(locked, "POST", "/reload", [host]), 401);
  assert.equal(status(locked, "POST", "/reload", [host, auth]), undefined);
  assert.equal(status(locked, "POST", "/reload", [...evil, auth]), 403, "a token does not make CSRF fine");
  assert.equal(status(locked, "GET", "/status.json", [["Host", "evil.test"], auth]), 421);
  assert.doesNotMatch(
    refusal(request("GET", "/", [host, ["Authorization", "Bearer x"]]), locked)!.reason,
    /t0ken/,
  );
});
