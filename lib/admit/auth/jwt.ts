/**
 * JWT: one route's verifier. Every signature and key operation is jose's; this module only
 * decides which keys a token may be checked with:
 * - the token's `alg` must be one the route lists (never "none", which jose does not verify);
 * - HS256/384/512 are checked with secret_file and nothing else, every other algorithm with the
 *   public keys (PEM files, JWKS files, jwks_url) and nothing else, so a public key is never
 *   taken for an HMAC secret (the classic algorithm-confusion forgery);
 * - `jku`, `x5u`, `jwk` and `x5c` headers are ignored (keys only ever come from the config), a
 *   `crit` header jose does not understand is refused, `kid` is only compared, never a path.
 * Failure reasons are fixed strings: nothing of the token reaches a log line.
 */
import {
  type CompactJWSHeaderParameters,
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  importSPKI,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import { HMAC_ALGORITHMS, type JwtConfig } from "../../config/auth.ts";
import { describeError } from "../../errors.ts";
import { JwksUnavailable, type RemoteJwks } from "./remote_jwks.ts";
import type { Logger } from "../../observe/log.ts";

export type JwtVerdict =
  | {
    ok: true;
    claims: JWTPayload; /** ms since the epoch (exp + leeway), when the token has exp. */
    expiresAt?: number;
  }
  | { ok: false; result: "invalid" | "expired" | "error"; reason: string };

type Key = CryptoKey | Uint8Array;

/** Keys one token is tried against at most: a token without a kid against a JWKS of many keys of
 * its type would otherwise cost one signature check per key (a cheap way to burn the gateway's CPU). */
export const MAX_CANDIDATES = 8;

/** Tokens longer than this are not even decoded (a header holds 16 KiB by default anyway). */
export const MAX_TOKEN_LENGTH = 16_384;

export class JwtVerifier {
  readonly #config: JwtConfig;
  readonly #secret: Uint8Array | undefined;
  readonly #remote: RemoteJwks | undefined;
  /** PEM keys by algorithm, and the JWKS files; imported once per configuration. */
  readonly #local: Promise<{ pem: Map<string, CryptoKey[]>; sets: JWTVerifyGetKey[] }>;

  constructor(config: JwtConfig, deps: { logger: Logger; route: string; remote?: RemoteJwks }) {
    this.#config = config;
    this.#remote = deps.remote;
    if (config.secret !== undefined) this.#secret = new TextEncoder().encode(config.secret);
    this.#local = importLocalKeys(config, deps);
  }

  get config(): JwtConfig {
    return this.#config;
  }

  async verify(token: string): Promise<JwtVerdict> {
    const config = this.#config;
    if (token.length > MAX_TOKEN_LENGTH) return invalid("token too long");
    let header: CompactJWSHeaderParameters;
    try {
      header = decodeProtectedHeader(token) as CompactJWSHeaderParameters;
    } catch {
      return invalid("malformed token");
    }
    const alg = header.alg;
    if (typeof alg !== "string" || !config.algorithms.includes(alg)) return invalid("algorithm not allowed");
    let keys: Key[];
    try {
      keys = await this.#keysFor(alg, typeof header.kid === "string" ? header.kid : undefined, header);
    } catch (err) {
      if (err instanceof JwksUnavailable) return { ok: false, result: "error", reason: "JWKS unavailable" };
      throw err;
    }
    if (keys.length === 0) return invalid("no key matches the token");
    const options = {
      algorithms: [alg],
      clockTolerance: config.leeway / 1000,
      ...(config.issuer !== undefined && { issuer: config.issuer }),
      ...(config.audience !== undefined && { audience: config.audience }),
    };
    let verdict: JwtVerdict = invalid("bad signature");
    for (const key of keys.slice(0, MAX_CANDIDATES)) {
      try {
        const { payload } = await jwtVerify(token, key, options);
        const expiresAt = typeof payload.exp === "number" ? payload.exp * 1000 + config.leeway : undefined;
        return { ok: true, claims: payload, ...(expiresAt !== undefined && { expiresAt }) };
      } catch (err) {
        verdict = judge(err);
        // Only a signature that did not verify with this key is worth trying the next one for.
        if (!(err instanceof errors.JWSSignatureVerificationFailed)) return verdict;
      }
    }
    return verdict;
  }

  async #keysFor(alg: string, kid: string | undefined, header: CompactJWSHeaderParameters): Promise<Key[]> {
    if ((HMAC_ALGORITHMS as readonly string[]).includes(alg)) return this.#secret ? [this.#secret] : [];
    const local = await this.#local;
    const keys: Key[] = [...local.pem.get(alg) ?? []];
    const sets = [...local.sets];
    if (this.#remote) sets.push(await this.#remote.keys(kid));
    for (const set of sets) keys.push(...await candidates(set, header));
    return keys;
  }
}

/** The keys of a set that match the header (kid, alg, curve); several when it cannot tell. */
async function candidates(set: JWTVerifyGetKey, header: CompactJWSHeaderParameters): Promise<Key[]> {
  try {
    return [await set(header, { payload: "", signature: "" } as never) as Key];
  } catch (err) {
    if (err instanceof errors.JWKSMultipleMatchingKeys) {
      const keys: Key[] = [];
      for await (const key of err) keys.push(key as Key);
      return keys;
    }
    if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JOSEError) return [];
    throw err;
  }
}

function invalid(reason: string): JwtVerdict {
  return { ok: false, result: "invalid", reason };
}

/** jose's verdict -> a fixed reason (its messages are not logged: they are not ours to vet). */
function judge(err: unknown): JwtVerdict {
  if (err instanceof errors.JWTExpired) return { ok: false, result: "expired", reason: "token expired" };
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "nbf":
        return invalid("token not yet valid");
      case "iss":
        return invalid("wrong issuer");
      case "aud":
        return invalid("wrong audience");
      case "iat":
        return invalid("issued in the future");
      default:
        return invalid("claims check failed");
    }
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid("bad signature");
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid("algorithm not allowed");
  if (err instanceof errors.JOSEError) return invalid("malformed token");
  return invalid("unusable key or token");
}

async function importLocalKeys(
  config: JwtConfig,
  deps: { logger: Logger; route: string },
): Promise<{ pem: Map<string, CryptoKey[]>; sets: JWTVerifyGetKey[] }> {
  const asymmetric = config.algorithms.filter((a) => !(HMAC_ALGORITHMS as readonly string[]).includes(a));
  const pem = new Map<string, CryptoKey[]>();
  const sets: JWTVerifyGetKey[] = [];
  const unusable = (file: string, reason: string) =>
    deps.logger.log("error", "auth_key_unusable", { route: deps.route, file, reason });
  for (const key of config.keys) {
    if (key.kind === "jwks") {
      try {
        sets.push(createLocalJWKSet(JSON.parse(key.text)));
      } catch (err) {
        unusable(key.file, describeError(err));
      }
      continue;
    }
    let imported = 0;
    for (const alg of asymmetric) {
      // A key imports only for the algorithms of its type (an RSA key for RS*/PS*, P-256 for ES256).
      const cryptoKey = await importSPKI(key.text, alg).catch(() => undefined);
      if (!cryptoKey) continue;
      pem.set(alg, [...pem.get(alg) ?? [], cryptoKey]);
      imported++;
    }
    if (imported === 0) unusable(key.file, `fits none of the algorithms ${asymmetric.join(", ")}`);
  }
  return { pem, sets };
}
