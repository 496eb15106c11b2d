/**
 * Keys and tokens for the auth e2e tests, made by npm `jose` at test time: an RSA key served as
 * a JWKS file, a P-256 key as a PEM file, an HS256 secret file, an Ed25519 key. Every token made
 * here is remembered, so a test can scan the gateway's whole output for any of them.
 */
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import type { Gateway } from "./_harness.ts";

export const ISSUER = "https://id.test";
export const AUDIENCE = "chat";

export interface SigningKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey | Uint8Array;
}

export interface TestKeys {
  rsa: SigningKey;
  ec: SigningKey;
  ed: SigningKey;
  hs: SigningKey;
  /** Files for the gateway's temp dir: jwks.json (RSA + Ed25519), ec.pub.pem, rsa.pub.pem, hs.key. */
  files: Record<string, string>;
  /** The RSA public key as PEM (what an algorithm-confusion forgery signs with). */
  rsaPublicPem: string;
}

/** Every token made by sign(), for noTokenIn(). */
const issued = new Set<string>();

export async function makeKeys(): Promise<TestKeys> {
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const ec = await generateKeyPair("ES256", { extractable: true });
  const ed = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const secret = crypto.getRandomValues(new Uint8Array(32)).reduce(
    (s, b) => s + b.toString(16).padStart(2, "0"),
    "",
  );
  const rsaJwk = { ...await exportJWK(rsa.publicKey), kid: "rsa-1", use: "sig" };
  const edJwk = { ...await exportJWK(ed.publicKey), kid: "ed-1" };
  const rsaPublicPem = await exportSPKI(rsa.publicKey);
  return {
    rsa: { alg: "RS256", kid: "rsa-1", privateKey: rsa.privateKey },
    ec: { alg: "ES256", kid: "ec-1", privateKey: ec.privateKey },
    ed: { alg: "EdDSA", kid: "ed-1", privateKey: ed.privateKey },
    hs: { alg: "HS256", kid: "hs-1", privateKey: new TextEncoder().encode(secret) },
    files: {
      "jwks.json": JSON.stringify({ keys: [rsaJwk, edJwk] }),
      "ec.pub.pem": await exportSPKI(ec.publicKey),
      "rsa.pub.pem": rsaPublicPem,
      "hs.key": `${secret}\n`,
    },
    rsaPublicPem,
  };
}

export interface SignOptions {
  /** Seconds from now; undefined = no exp. Default 300. */
  expiresIn?: number | undefined;
  notBeforeIn?: number;
  issuer?: string;
  audience?: string;
  kid?: string | undefined;
  /** Extra protected header parameters (jku, x5u, crit, ...). */
  header?: Record<string, unknown>;
}

export async function sign(
  key: SigningKey,
  claims: JWTPayload = {},
  options: SignOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const kid = "kid" in options ? options.kid : key.kid;
  const jwt = new SignJWT({ sub: "alice", ...claims })
    .setProtectedHeader({ alg: key.alg, ...(kid !== undefined && { kid }), ...options.header } as never)
    .setIssuedAt(now - 5)
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE);
  const expiresIn = "expiresIn" in options ? options.expiresIn : 300;
  if (expiresIn !== undefined) jwt.setExpirationTime(now + expiresIn);
  if (options.notBeforeIn !== undefined) jwt.setNotBefore(now + options.notBeforeIn);
  return remember(await jwt.sign(key.privateKey));
}

/** A token made some other way (forged, unsigned) that must not be logged either. */
export function remember(token: string): string {
  issued.add(token);
  return token;
}

const b64url = (text: string) => btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** An unsigned token (`alg: none`). */
export function unsigned(claims: JWTPayload = { sub: "mallory" }): string {
  const exp = Math.floor(Date.now() / 1000) + 300;
  return remember(
    `${b64url(JSON.stringify({ alg: "none" }))}.${
      b64url(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp, ...claims }))
    }.`,
  );
}

/** HS256 signed with `secret` bytes (the algorithm-confusion forgery uses the RSA public PEM). */
export function hsKey(secret: string): SigningKey {
  return { alg: "HS256", kid: "rsa-1", privateKey: new TextEncoder().encode(secret) };
}

/** The base64url of a token for the Kubernetes-style subprotocol entry. */
export function protocolEntry(token: string): string {
  return `base64url.bearer.authorization.k8s.io.${b64url(token)}`;
}

/** Throws when any token made here (or its signature part) appears in the gateway's output. */
export function assertNoTokenIn(gw: Gateway, extra: string[] = []): void {
  const output = [gw.output(), ...extra].join("\n");
  for (const token of issued) {
    const signature = token.split(".")[2] ?? "";
    const payload = token.split(".")[1] ?? "";
    for (const part of [token, signature.length >= 16 ? signature : "", payload]) {
      if (part && output.includes(part)) {
        throw new Error(`a token appears in the gateway's output: ${part.slice(0, 12)}...`);
      }
    }
  }
}
