/**
 * auth.jwt jwks_url against a local HTTPS IdP (the test CA's localhost certificate): keys
 * fetched at start, a rotated key found by its kid, unknown kids refetching at most every
 * jwks_refetch, the last good set kept when the IdP is down, and an IdP whose certificate is not
 * trusted never trusted.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair } from "jose";
import { wsEchoBackend } from "./_backends.ts";
import { CA_PEM, CERTS, eventually, type Gateway, startGateway, toYaml } from "./_harness.ts";
import { upgradeRequest } from "./_wire.ts";
import { RawWs } from "./_clients.ts";
import { assertNoTokenIn, AUDIENCE, ISSUER, sign, type SigningKey } from "./_auth.ts";

async function rsaKey(kid: string): Promise<{ signing: SigningKey; jwk: Record<string, unknown> }> {
  const pair = await generateKeyPair("RS256", { extractable: true });
  return {
    signing: { alg: "RS256", kid, privateKey: pair.privateKey },
    jwk: { ...await exportJWK(pair.publicKey), kid },
  };
}

function idp(cert: string, key: string) {
  const state = { keys: [] as Record<string, unknown>[], fetches: 0, body: undefined as string | undefined };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, cert, key, onListen() {} }, (request) => {
    if (new URL(request.url).pathname !== "/jwks.json") return new Response("no", { status: 404 });
    state.fetches++;
    if (state.body !== undefined) {
      return new Response(state.body, { headers: { "Content-Type": "application/json" } });
    }
    return Response.json({ keys: state.keys });
  });
  return { state, port: (server.addr as Deno.NetAddr).port, stop: () => server.shutdown() };
}

async function status(gw: Gateway, path: string, token: string): Promise<number> {
  const request = upgradeRequest({ path, headers: [["Authorization", `Bearer ${token}`]] });
  await using ws = await RawWs.open(gw.port, { request, timeoutMs: 10_000 });
  return ws.response.status;
}

Deno.test("auth.jwt jwks_url: fetched over HTTPS, rotation by kid, refetch rate-limited, IdP down keeps the last keys", async (t) => {
  const server = idp(
    Deno.readTextFileSync(`${CERTS}localhost.pem`),
    Deno.readTextFileSync(`${CERTS}localhost-key.pem`),
  );
  const first = await rsaKey("k1");
  const second = await rsaKey("k2");
  server.state.keys = [first.jwk];
  await using backend = await wsEchoBackend();
  const url = `https://127.0.0.1:${server.port}/jwks.json`;
  const jwt = (extra: Record<string, unknown>) => ({
    jwt: { jwks_url: url, algorithms: ["RS256"], issuer: ISSUER, audience: AUDIENCE, ...extra },
  });
  await using gw = await startGateway({
    config: toYaml({
      servers: [{
        listen: ["127.0.0.1:0"],
        routes: [
          { path: "/", upstream: "app", auth: jwt({ jwks_ca: "ca.pem", jwks_refetch: "1s" }) },
          // No jwks_ca: the IdP's certificate does not verify, so no key is ever taken from it.
          { path: "/untrusted/", upstream: "app", auth: jwt({}) },
        ],
      }],
      upstreams: { app: { servers: [backend.address] } },
    }),
    files: { "ca.pem": CA_PEM },
  });
  try {
    await t.step("fetched at start; a token signed with its key passes", async () => {
      await gw.waitForEvent("jwks_fetched", { url, keys: "1" });
      assert.equal(await status(gw, "/", await sign(first.signing, {}, { audience: AUDIENCE })), 101);
    });
    await t.step("an untrusted certificate: no keys, 502, the fetch failure logged", async () => {
      assert.equal(await status(gw, "/untrusted/", await sign(first.signing)), 502);
      const failed = await gw.waitForEvent("jwks_fetch_failed", { url, kept: "false" });
      assert.match(failed.fields.reason ?? "", /certificate|TLS|tls|cert/i);
      // More requests within jwks_refetch (30s here) do not fetch again: one attempt per interval.
      for (let i = 0; i < 5; i++) {
        assert.equal(await status(gw, "/untrusted/", await sign(first.signing)), 502);
      }
      assert.equal(gw.records("jwks_fetch_failed").filter((r) => r.fields.kept === "false").length, 1);
    });
    await t.step("rotation: a new kid is fetched on first sight", async () => {
      server.state.keys = [first.jwk, second.jwk];
      const token = await sign(second.signing);
      // The first attempt may fall within jwks_refetch of the start-up fetch.
      await eventually(async () => await status(gw, "/", token) === 101, 10_000, "the new key accepted");
    });
    await t.step("made-up kids do not become a stream of fetches", async () => {
      const fetches = server.state.fetches;
      for (let i = 0; i < 10; i++) {
        assert.equal(await status(gw, "/", await sign({ ...first.signing, kid: `made-up-${i}` })), 401);
      }
      assert.ok(
        server.state.fetches - fetches <= 2,
        `${server.state.fetches - fetches} fetches for 10 unknown kids`,
      );
    });
    await t.step(
      "a huge JWKS, or one with too many keys, is refused and the last good set kept",
      async () => {
        const fake = { ...second.jwk, kid: "x" };
        for (
          const [body, reason] of [
            [JSON.stringify({ keys: [second.jwk], pad: "x".repeat(300 * 1024) }), "body over 262144 bytes"],
            [
              JSON.stringify({ keys: Array.from({ length: 65 }, (_, i) => ({ ...fake, kid: `x${i}` })) }),
              "65 keys",
            ],
          ] as const
        ) {
          server.state.body = body;
          const unknown = await sign({ ...first.signing, kid: `new-${reason}` });
          await eventually(
            async () => {
              assert.equal(await status(gw, "/", unknown), 401);
              return gw.records("jwks_fetch_failed").some((r) => r.fields.reason?.includes(reason));
            },
            10_000,
            `a refused fetch: ${reason}`,
          );
          assert.equal(await status(gw, "/", await sign(first.signing)), 101);
        }
        server.state.body = undefined;
      },
    );
    await t.step("IdP down: the last good keys still verify; an unknown kid is refused", async () => {
      await server.stop();
      const third = await rsaKey("k3");
      const unknown = await sign(third.signing);
      await eventually(
        async () => {
          assert.equal(await status(gw, "/", unknown), 401);
          return gw.records("jwks_fetch_failed").some((r) =>
            r.fields.kept === "true" && /connect/.test(r.fields.reason ?? "")
          );
        },
        10_000,
        "a failed refetch that kept the set",
      );
      assert.equal(await status(gw, "/", await sign(first.signing)), 101);
      assert.equal(await status(gw, "/", await sign(second.signing)), 101);
    });
  } finally {
    await server.stop().catch(() => {});
  }
  assertNoTokenIn(gw);
});
