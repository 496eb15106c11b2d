/** `tls.acme` validation: defaults, and the exact message and key path of each problem. */
import assert from "node:assert/strict";
import { domainProblem } from "../../lib/config/acme.ts";
import { formatPath, validateConfig } from "../../lib/config/validate.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };

function withAcme(acme: unknown, tls: Record<string, unknown> = {}) {
  return {
    servers: [{ listen: "127.0.0.1:8443", tls: { ...tls, acme }, routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers: ["127.0.0.1:8080"] } },
  };
}

function problems(raw: unknown): string[] {
  return validateConfig(raw, OPTIONS).issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`);
}

Deno.test("tls.acme: defaults (Let's Encrypt production, acme/ beside the config, 30 days)", () => {
  const { config, files } = validateConfig(withAcme({ domains: ["Chat.Example.com"] }), OPTIONS);
  assert.deepEqual(config!.servers[0]!.acme, {
    domains: ["chat.example.com"],
    directory: "https://acme-v02.api.letsencrypt.org/directory",
    storage: "/etc/wsgate/acme",
    renew_before: 30 * 86_400_000,
  });
  assert.equal(config!.servers[0]!.tls, undefined);
  assert.deepEqual(files, []);
});

Deno.test("tls.acme: every key, paths resolved against the config's folder", () => {
  const { config, files } = validateConfig(
    withAcme({
      domains: ["a.example.com", "b.example.com"],
      email: "ops@example.com",
      directory: "https://ca.internal/dir",
      ca: "ca.pem",
      storage: "/var/lib/wsgate/acme",
      renew_before: "12h",
    }),
    OPTIONS,
  );
  const acme = config!.servers[0]!.acme!;
  assert.deepEqual(acme.domains, ["a.example.com", "b.example.com"]);
  assert.equal(acme.email, "ops@example.com");
  assert.equal(acme.ca_file, "/etc/wsgate/ca.pem");
  assert.equal(acme.storage, "/var/lib/wsgate/acme");
  assert.equal(acme.renew_before, 12 * 3_600_000);
  assert.deepEqual(files.map((f) => f.file), ["/etc/wsgate/ca.pem"]);
});

Deno.test("tls.acme: each problem with its key path, all at once", () => {
  const at = "servers[0].tls.acme";
  assert.deepEqual(
    problems(withAcme({
      domains: [
        "*.example.com",
        "localhost",
        "1.2.3.4",
        "bad_name.example.com",
        "ok.example.com",
        "OK.example.com",
      ],
      email: "not an email",
      directory: "http://ca.example.com/dir",
      renew_before: "soon",
      storage: "",
      color: "blue",
    })),
    [
      `${at}.color: unknown key "color"; expected one of: domains, email, directory, ca, storage, renew_before`,
      `${at}.domains[0]: "*.example.com" is a wildcard: HTTP-01 cannot validate wildcards (list each name)`,
      `${at}.domains[1]: "localhost" is not a fully qualified domain name (like chat.example.com)`,
      `${at}.domains[2]: "1.2.3.4" is an IP address: only domain names are supported`,
      `${at}.domains[3]: "bad_name.example.com" is not a valid domain name (letters, digits and hyphens, dot-separated labels of 1-63)`,
      `${at}.domains[5]: duplicate domain "OK.example.com"`,
      `${at}.email: must be an email address`,
      `${at}.directory: must be an https:// URL (RFC 8555 requires HTTPS)`,
      `${at}.storage: must not be empty`,
      `${at}.renew_before: must be a duration like 250ms, 30s, 5m, 2h, 1d (cannot read "soon")`,
    ],
  );
});

Deno.test("tls.acme: required domains, no cert/key beside it, a mapping", () => {
  assert.deepEqual(problems(withAcme({})), ['servers[0].tls.acme: missing required key "domains"']);
  assert.deepEqual(problems(withAcme({ domains: ["a.example.com"] }, { cert: "c.pem" })), [
    'servers[0].tls.cert: "acme" takes the place of cert/key: a server\'s certificate comes from files or from ACME, not both',
  ]);
  assert.deepEqual(problems(withAcme("yes")), ["servers[0].tls.acme: must be a mapping (key: value)"]);
  assert.deepEqual(problems(withAcme({ domains: [] })), ["servers[0].tls.acme.domains: must not be empty"]);
});

Deno.test("domainProblem: names that can and cannot be on an HTTP-01 certificate", () => {
  for (
    const ok of [
      "a.b",
      "chat.example.com",
      "xn--bcher-kva.example",
      "a-b.c-d.example",
      `${"a".repeat(63)}.com`,
    ]
  ) {
    assert.equal(domainProblem(ok), undefined, ok);
  }
  const bad: [string, RegExp][] = [
    ["example.com.", /trailing|end with a dot/],
    ["-a.example.com", /not a valid/],
    ["a-.example.com", /not a valid/],
    [`${"a".repeat(64)}.com`, /not a valid/],
    ["a..example.com", /not a valid/],
    [`${"a.".repeat(130)}com`, /longer than 253/],
    ["com", /fully qualified/],
    ["a.example.com/x", /not a valid/],
    ["10.0.0.1", /IP address/],
  ];
  for (const [name, problem] of bad) assert.match(domainProblem(name) ?? "", problem, name);
});

Deno.test("tls.acme: renew_before longer than one timer (30d, 90d) is accepted; beyond ten years is not", () => {
  for (const [text, days] of [["30d", 30], ["90d", 90], ["3650d", 3650]] as const) {
    const { config, issues } = validateConfig(
      withAcme({ domains: ["a.example.com"], renew_before: text }),
      OPTIONS,
    );
    assert.deepEqual(issues, []);
    assert.equal(config!.servers[0]!.acme!.renew_before, days * 86_400_000);
  }
  assert.deepEqual(problems(withAcme({ domains: ["a.example.com"], renew_before: "3651d" })), [
    "servers[0].tls.acme.renew_before: must be a duration like 250ms, 30s, 5m, 2h, 1d (longer than the maximum 3650d)",
  ]);
  // Other durations keep setTimeout's limit.
  assert.match(
    problems({ ...withAcme({ domains: ["a.example.com"] }), limits: { handshake_timeout: "30d" } }).join(
      "\n",
    ),
    /longer than the maximum 24d20h31m23\.647s/,
  );
});
