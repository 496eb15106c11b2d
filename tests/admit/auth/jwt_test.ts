/**
 * The verifier against hostile tokens, signed by jose here: headers that point at keys
 * elsewhere (jku, x5u, jwk, x5c) are ignored, an unknown crit is refused, a kid is only ever
 * compared, an oversize token is not decoded, a kid-less token is not tried against every key of
 * a big set, and no reason quotes the token.
 */
import assert from "node:assert/strict";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { JwtVerifier, MAX_CANDIDATES, MAX_TOKEN_LENGTH } from "../../../lib/admit/auth/jwt.ts";
import type { JwtConfig } from "../../../lib/config/auth.ts";
import { createLogger } from "../../../lib/observe/log.ts";

const lines: string[] = [];
const logger = createLogger("text", {}, (line) => lines.push(line));

async function setup() {
  const trusted = await generateKeyPair("RS256", { extractable: true });
  const attacker = await generateKeyPair("RS256", { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...await exportJWK(trusted.publicKey), kid: "k1" }] });
  const config: JwtConfig = {
    keys: [{ file: "jwks.json", kind: "jwks", text: jwks }],
    algorithms: ["RS256", "ES256"],
    leeway: 0,
    token_from: [],
    strip_token: true,
    claims_to_headers: [],
    close_at_expiry: false,
  };
  const verifier = new JwtVerifier(config, { logger, route: "/" });
  const sign = (key: CryptoKey, header: Record<string, unknown> = {}, exp = 300) =>
    new SignJWT({ sub: "x" }).setProtectedHeader({ alg: "RS256", kid: "k1", ...header } as never)
      .setExpirationTime(Math.floor(Date.now() / 1000) + exp).sign(key);
  return { trusted, attacker, verifier, sign };
}

Deno.test("jwt: the trusted key verifies; expiresAt is exp", async () => {
  const { trusted, verifier, sign } = await setup();
  const verdict = await verifier.verify(await sign(trusted.privateKey));
  assert.equal(verdict.ok, true);
  assert.ok(verdict.ok && verdict.expiresAt! > Date.now());
});

Deno.test("jwt: jku, x5u, jwk and x5c headers never bring a key of their own", async () => {
  const { attacker, verifier, sign } = await setup();
  const jwk = await exportJWK(attacker.publicKey);
  const pem = await exportSPKI(attacker.publicKey);
  const x5c = pem.replace(/-----[^-]+-----|\s/g, "");
  for (
    const header of [
      { jku: "https://evil.test/jwks.json" },
      { x5u: "https://evil.test/cert.pem" },
      { jwk },
      { x5c: [x5c] },
      { kid: "k1", jwk, jku: "http://127.0.0.1:1/" },
    ]
  ) {
    const verdict = await verifier.verify(await sign(attacker.privateKey, header));
    assert.deepEqual(
      verdict,
      { ok: false, result: "invalid", reason: "bad signature" },
      JSON.stringify(header),
    );
  }
});

Deno.test("jwt: a crit header jose does not implement is refused, even on a good signature", async () => {
  const { trusted, verifier, sign } = await setup();
  // jose signs it only when told the extension is understood; the gateway never is.
  const token = await new SignJWT({ sub: "x" })
    .setProtectedHeader({ alg: "RS256", kid: "k1", crit: ["exp-x"], "exp-x": 1 } as never)
    .sign(trusted.privateKey, { crit: { "exp-x": true } });
  assert.equal((await verifier.verify(await sign(trusted.privateKey))).ok, true);
  const verdict = await verifier.verify(token);
  assert.deepEqual(verdict, { ok: false, result: "invalid", reason: "malformed token" });
});

Deno.test("jwt: kid path tricks are only a kid that matches no key", async () => {
  const { trusted, verifier, sign } = await setup();
  for (const kid of ["../../../../etc/passwd", "/dev/null", "k1\0", "k1/../k1", "' OR 1=1 --"]) {
    const verdict = await verifier.verify(await sign(trusted.privateKey, { kid }));
    assert.deepEqual(verdict, { ok: false, result: "invalid", reason: "no key matches the token" }, kid);
  }
});

Deno.test("jwt: oversize, malformed and unlisted-algorithm tokens get fixed reasons", async () => {
  const { trusted, verifier, sign } = await setup();
  const good = await sign(trusted.privateKey);
  const cases: [string, string][] = [
    [`${good}${"A".repeat(MAX_TOKEN_LENGTH)}`, "token too long"],
    ["not-a-jwt", "malformed token"],
    ["eyJhbGciOiJSUzI1NiJ9.!!!.x", "malformed token"],
    [`${btoa('{"alg":"PS256"}').replace(/=+$/, "")}.e30.x`, "algorithm not allowed"],
    [`${btoa('{"alg":"RS256 "}').replace(/=+$/, "")}.e30.x`, "algorithm not allowed"],
  ];
  for (const [token, reason] of cases) {
    const verdict = await verifier.verify(token);
    assert.deepEqual(verdict, { ok: false, result: "invalid", reason }, token.slice(0, 40));
  }
  assert.ok(lines.every((line) => !line.includes(good)));
});

Deno.test("jwt: a token without a kid is tried against at most MAX_CANDIDATES keys", async () => {
  const pairs = await Promise.all(
    Array.from({ length: MAX_CANDIDATES + 2 }, () => generateKeyPair("ES256", { extractable: true })),
  );
  const jwks = JSON.stringify({ keys: await Promise.all(pairs.map((p) => exportJWK(p.publicKey))) });
  const verifier = new JwtVerifier({
    keys: [{ file: "many.json", kind: "jwks", text: jwks }],
    algorithms: ["ES256"],
    leeway: 0,
    token_from: [],
    strip_token: true,
    claims_to_headers: [],
    close_at_expiry: false,
  }, { logger, route: "/" });
  const sign = (key: CryptoKey) => new SignJWT({ sub: "x" }).setProtectedHeader({ alg: "ES256" }).sign(key);
  assert.equal((await verifier.verify(await sign(pairs[MAX_CANDIDATES - 1]!.privateKey))).ok, true);
  assert.deepEqual(await verifier.verify(await sign(pairs.at(-1)!.privateKey)), {
    ok: false,
    result: "invalid",
    reason: "bad signature",
  });
});

Deno.test("jwt: a PEM key that fits none of the algorithms is logged (auth_key_unusable), not used", async () => {
  const ec = await generateKeyPair("ES256", { extractable: true });
  const before = lines.length;
  const verifier = new JwtVerifier({
    keys: [
      { file: "/k/ec.pem", kind: "pem", text: await exportSPKI(ec.publicKey) },
      {
        file: "/k/garbage.pem",
        kind: "pem",
        text: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
      },
    ],
    algorithms: ["RS256"],
    leeway: 0,
    token_from: [],
    strip_token: true,
    claims_to_headers: [],
    close_at_expiry: false,
  }, { logger, route: "/r" });
  const token = await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).sign(
    (await generateKeyPair("RS256")).privateKey,
  );
  assert.deepEqual(await verifier.verify(token), {
    ok: false,
    result: "invalid",
    reason: "no key matches the token",
  });
  const logged = lines.slice(before).filter((line) => line.includes("auth_key_unusable"));
  assert.equal(logged.length, 2);
  assert.match(logged[0]!, /route=\/r file=\/k\/ec\.pem reason="fits none of the algorithms RS256"/);
  assert.match(logged[1]!, /file=\/k\/garbage\.pem/);
});

Deno.test("jwt: leeway forgives that much clock skew on exp and nbf, and moves expiresAt by it", async () => {
  const { trusted } = await setup();
  const jwks = JSON.stringify({ keys: [{ ...await exportJWK(trusted.publicKey), kid: "k1" }] });
  const config = (leeway: number): JwtConfig => ({
    keys: [{ file: "jwks.json", kind: "jwks", text: jwks }],
    algorithms: ["RS256"],
    leeway,
    token_from: [],
    strip_token: true,
    claims_to_headers: [],
    close_at_expiry: true,
  });
  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setExpirationTime(
    now - 30,
  )
    .sign(trusted.privateKey);
  const early = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setNotBefore(now + 30)
    .sign(trusted.privateKey);
  const strict = new JwtVerifier(config(0), { logger, route: "/" });
  const lenient = new JwtVerifier(config(60_000), { logger, route: "/" });
  assert.deepEqual(await strict.verify(expired), { ok: false, result: "expired", reason: "token expired" });
  assert.deepEqual(await strict.verify(early), {
    ok: false,
    result: "invalid",
    reason: "token not yet valid",
  });
  const verdict = await lenient.verify(expired);
  assert.ok(verdict.ok && verdict.expiresAt === (now - 30) * 1000 + 60_000);
  assert.equal((await lenient.verify(early)).ok, true);
});
