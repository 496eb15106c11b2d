/**
 * A route's `auth:` section (DESIGN §3b): `jwt` (tokens checked against keys the gateway holds)
 * and `forward` (a subrequest to an auth service). Pure like the rest of validation: key files
 * are only named here, load.ts reads them (on every reload too, so rotated keys apply).
 */
import { type Addr, parseUpstreamAddress } from "../net/address.ts";
import {
  asBoolean,
  asDuration,
  asString,
  Invalid,
  type KeyPath,
  type Raw,
  type Reader,
  type ReadFile,
} from "./reader.ts";

/** Where a token is looked for; `protocol` = a Sec-WebSocket-Protocol entry starting with `prefix`. */
export type TokenSource =
  | { from: "header" | "query" | "cookie"; name: string }
  | { from: "protocol"; prefix: string };

/** A key file as read: a JWKS document (JSON) or a PEM public key. */
export interface KeyFile {
  file: string;
  kind: "jwks" | "pem";
  text: string;
}

export interface RemoteJwksConfig {
  url: string;
  addr: Addr;
  /** The Host header. */
  host: string;
  /** SNI and the name verified in the certificate. */
  hostname: string;
  /** origin-form path and query. */
  target: string;
  /** Extra trusted CAs (PEM), read by load.ts. */
  ca?: string;
  /** ms a fetched set is used before it is refreshed (in the background). */
  cache: number;
  /** ms: a token with an unknown kid triggers a fetch at most this often. */
  refetch: number;
}

export interface JwtConfig {
  keys: KeyFile[];
  jwks_url?: RemoteJwksConfig;
  /** The secret of HS256/384/512, as the file holds it (UTF-8) without a trailing newline. */
  secret?: string;
  algorithms: string[];
  issuer?: string;
  audience?: string[];
  /** ms of clock skew allowed on exp and nbf. */
  leeway: number;
  token_from: TokenSource[];
  /** Query parameters and subprotocol entries of token_from are removed before forwarding. */
  strip_token: boolean;
  /** [header name, claim name]; the header replaces any value the client sent. */
  claims_to_headers: [string, string][];
  close_at_expiry: boolean;
}

export interface ForwardConfig {
  url: string;
  addr: Addr;
  /** Set for https:// URLs. */
  tls?: { serverName: string; ca?: string };
  /** Host header of the subrequest. */
  host: string;
  target: string;
  /** Headers of the client's request passed on; undefined = all but hop-by-hop, Upgrade and
   * Sec-WebSocket-*. Lower case. */
  pass_headers?: string[];
  /** Headers of a 2xx answer set on the upstream request (replacing the client's). */
  copy_headers: string[];
  timeout: number;
  /** ms a 2xx verdict is reused for the same credentials; 0 = never. */
  cache: number;
}

export interface AuthConfig {
  jwt?: JwtConfig;
  forward?: ForwardConfig;
}

export const AUTH_DEFAULTS = {
  token_from: ["header:Authorization"],
  strip_token: true,
  leeway: 0,
  close_at_expiry: false,
  forward: { timeout: 2_000, cache: 0 },
  jwks_cache: 600_000,
  jwks_refetch: 30_000,
} as const;

const JWT_KEYS = [
  "keys",
  "jwks_url",
  "jwks_ca",
  "jwks_cache",
  "jwks_refetch",
  "secret_file",
  "algorithms",
  "issuer",
  "audience",
  "leeway",
  "token_from",
  "strip_token",
  "claims_to_headers",
  "close_at_expiry",
] as const;
const FORWARD_KEYS = ["url", "ca", "pass_headers", "copy_headers", "timeout", "cache"] as const;

export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;
export const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
const ALGORITHMS: readonly string[] = [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS];

const TOKEN = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/;
/** What the gateway owns on the upstream request (framing, the handshake, forwarding). */
const OWNED =
  /^(connection|upgrade|host|content-length|transfer-encoding|keep-alive|te|trailer|proxy-connection|forwarded|x-real-ip|x-forwarded-.*|sec-websocket-.*)$/i;
/** A Sec-WebSocket-Protocol entry is a token (RFC 6455 §4.1). */
const PROTOCOL_PREFIX = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function readAuth(r: Reader, route: Raw, path: KeyPath): { auth?: AuthConfig } {
  if (route.auth === undefined) return {};
  const raw = r.section(route, "auth", path, ["jwt", "forward"]);
  const at = [...path, "auth"];
  const jwt = raw.jwt === undefined
    ? undefined
    : readJwt(r, r.section(raw, "jwt", at, JWT_KEYS), [...at, "jwt"]);
  const forward = raw.forward === undefined
    ? undefined
    : readForward(r, r.section(raw, "forward", at, FORWARD_KEYS), [...at, "forward"]);
  if (!jwt && !forward && raw.jwt === undefined && raw.forward === undefined) {
    r.report(at, 'needs "jwt", "forward" or both');
  }
  return { auth: { ...(jwt && { jwt }), ...(forward && { forward }) } };
}

function readJwt(r: Reader, raw: Raw, at: KeyPath): JwtConfig {
  const algorithms = readAlgorithms(r, raw, at);
  const keys: KeyFile[] = [];
  for (const item of r.strings(raw, "keys", at, { required: false }) ?? []) {
    const key: KeyFile = { file: "", kind: "pem", text: "" };
    key.file = r.file(item.path, item.value, asKeyFile, (text) => {
      key.text = text;
      key.kind = text.trimStart().startsWith("{") ? "jwks" : "pem";
    });
    keys.push(key);
  }
  const jwks_url = readJwksUrl(r, raw, at);
  const config: JwtConfig = {
    keys,
    ...(jwks_url && { jwks_url }),
    algorithms,
    leeway: r.get(raw, "leeway", at, asDuration({ positive: false })) ?? AUTH_DEFAULTS.leeway,
    token_from: readTokenSources(r, raw, at),
    strip_token: r.get(raw, "strip_token", at, asBoolean) ?? AUTH_DEFAULTS.strip_token,
    claims_to_headers: readClaimHeaders(r, raw, at),
    close_at_expiry: r.get(raw, "close_at_expiry", at, asBoolean) ?? AUTH_DEFAULTS.close_at_expiry,
  };
  const secretFile = r.get(raw, "secret_file", at, asString);
  if (secretFile !== undefined) {
    config.secret = "";
    r.file([...at, "secret_file"], secretFile, asSecret, (secret) => config.secret = secret);
  }
  const issuer = r.get(raw, "issuer", at, asString);
  if (issuer !== undefined) config.issuer = issuer;
  const audience = r.strings(raw, "audience", at, { required: false });
  if (audience) config.audience = audience.map((item) => item.value);
  checkKeysMatchAlgorithms(r, raw, at, algorithms);
  return config;
}

function readAlgorithms(r: Reader, raw: Raw, at: KeyPath): string[] {
  const items = r.strings(raw, "algorithms", at, { required: true }) ?? [];
  const algorithms: string[] = [];
  for (const item of items) {
    if (item.value.toLowerCase() === "none") {
      r.report(item.path, '"none" is never accepted (an unsigned token proves nothing)');
    } else if (!ALGORITHMS.includes(item.value)) {
      r.report(item.path, `unknown algorithm "${item.value}"; expected one of: ${ALGORITHMS.join(", ")}`);
    } else algorithms.push(item.value);
  }
  return algorithms;
}

/** HS* verify only with secret_file, every other algorithm only with public keys: never one for the other. */
function checkKeysMatchAlgorithms(r: Reader, raw: Raw, at: KeyPath, algorithms: string[]): void {
  const hmac = algorithms.some((a) => (HMAC_ALGORITHMS as readonly string[]).includes(a));
  const asymmetric = algorithms.some((a) => (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a));
  const publicKeys = raw.keys !== undefined || raw.jwks_url !== undefined;
  if (hmac && raw.secret_file === undefined) {
    r.report(
      [...at, "algorithms"],
      "HS256/384/512 need secret_file (a public key is never used as an HMAC secret)",
    );
  }
  if (raw.secret_file !== undefined && !hmac) {
    r.report([...at, "secret_file"], "is only used by HS256/384/512, and algorithms lists none");
  }
  if (asymmetric && !publicKeys) {
    r.report(
      at,
      `algorithms ${algorithms.filter((a) => !a.startsWith("HS")).join(", ")} need keys or jwks_url`,
    );
  }
  if (publicKeys && !asymmetric && algorithms.length > 0) {
    r.report(
      [...at, "algorithms"],
      "lists no public-key algorithm for keys/jwks_url (RS256, ES256, EdDSA, ...)",
    );
  }
  for (const key of ["jwks_ca", "jwks_cache", "jwks_refetch"]) {
    if (raw[key] !== undefined && raw.jwks_url === undefined) r.report([...at, key], "needs jwks_url");
  }
}

/** A JWKS document of public keys, or a PEM public key (never a private key, never a shared secret). */
const asKeyFile: ReadFile = (text) => {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{")) {
    const problem = jwksProblem(trimmed);
    return problem ? new Invalid(problem) : text;
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    return new Invalid("holds a private key; give the public key (openssl pkey -pubout)");
  }
  if (!text.includes("-----BEGIN PUBLIC KEY-----")) {
    return new Invalid('is neither a JWKS (JSON) nor a PEM public key ("-----BEGIN PUBLIC KEY-----")');
  }
  return text;
};

/** Why a JWKS file cannot be used, or undefined. Public keys only: a secret here would let
 * anyone holding the file (the public half, as far as the operator knows) sign tokens. */
export function jwksProblem(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return `is not valid JSON (${(err as Error).message})`;
  }
  const keys = (doc as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return 'is not a JWKS: no "keys" list';
  for (const [i, key] of keys.entries()) {
    const jwk = key as Record<string, unknown>;
    if (typeof jwk !== "object" || jwk === null || typeof jwk.kty !== "string") {
      return `keys[${i}] is not a JWK (no "kty")`;
    }
    if (jwk.kty === "oct") return `keys[${i}] is a shared secret (kty "oct"); HMAC secrets go in secret_file`;
    if (jwk.d !== undefined) return `keys[${i}] holds a private key; publish the public keys only`;
  }
  return undefined;
}

/** The raw secret; the newline an editor or `echo` adds is not part of it. */
const asSecret: ReadFile = (text) => {
  const secret = text.replace(/\r?\n$/, "");
  if (secret.includes("\uFFFD")) {
    return new Invalid("is not UTF-8 text; write a binary secret as its base64 or hex text");
  }
  // RFC 7518 §3.2: a key of the same size as the hash output (256 bits) or larger.
  if (new TextEncoder().encode(secret).length < 32) return new Invalid("is shorter than 32 bytes");
  return secret;
};

function readJwksUrl(r: Reader, raw: Raw, at: KeyPath): RemoteJwksConfig | undefined {
  const url = r.get(raw, "jwks_url", at, asString);
  if (url === undefined) return undefined;
  const parsed = parseHttpUrl(url);
  if ("error" in parsed) {
    r.report([...at, "jwks_url"], parsed.error);
    return undefined;
  }
  if (!parsed.tls) {
    r.report([...at, "jwks_url"], "must be an https:// URL (keys fetched in the clear could be swapped)");
    return undefined;
  }
  const config: RemoteJwksConfig = {
    url,
    addr: parsed.addr,
    host: parsed.host,
    hostname: parsed.hostname,
    target: parsed.target,
    cache: r.get(raw, "jwks_cache", at, asDuration({ positive: true })) ?? AUTH_DEFAULTS.jwks_cache,
    refetch: r.get(raw, "jwks_refetch", at, asDuration({ positive: true })) ?? AUTH_DEFAULTS.jwks_refetch,
  };
  if (config.refetch < 1_000) {
    r.report([...at, "jwks_refetch"], "must be at least 1s (every unknown kid may trigger a fetch)");
  }
  const ca = r.get(raw, "jwks_ca", at, asString);
  if (ca !== undefined) r.pemFile([...at, "jwks_ca"], ca, (pem) => config.ca = pem);
  return config;
}

function readTokenSources(r: Reader, raw: Raw, at: KeyPath): TokenSource[] {
  const items = r.strings(raw, "token_from", at, { required: false });
  if (items === undefined) return AUTH_DEFAULTS.token_from.map((s) => parseTokenSource(s) as TokenSource);
  const sources: TokenSource[] = [];
  for (const item of items) {
    const source = parseTokenSource(item.value);
    if (source instanceof Invalid) r.report(item.path, source.message);
    else sources.push(source);
  }
  return sources;
}

export function parseTokenSource(text: string): TokenSource | Invalid {
  const colon = text.indexOf(":");
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (colon === -1 || name === "") {
    return new Invalid("must be header:NAME, query:NAME, cookie:NAME or protocol:PREFIX");
  }
  if (kind === "protocol") {
    return PROTOCOL_PREFIX.test(name) ? { from: "protocol", prefix: name } : new Invalid(
      "protocol:PREFIX takes a subprotocol token prefix (letters, digits and !#$%&'*+-.^_`|~)",
    );
  }
  if (kind !== "header" && kind !== "query" && kind !== "cookie") {
    return new Invalid(`unknown token source "${kind}:"; expected header:, query:, cookie: or protocol:`);
  }
  if (kind === "header" && !TOKEN.test(name)) return new Invalid(`invalid header name "${name}"`);
  if (kind !== "header" && /[\s;,=&]/.test(name)) return new Invalid(`invalid ${kind} name "${name}"`);
  return { from: kind, name };
}

function readClaimHeaders(r: Reader, raw: Raw, at: KeyPath): [string, string][] {
  if (raw.claims_to_headers === undefined) return [];
  const map = r.mapping(raw.claims_to_headers, [...at, "claims_to_headers"]);
  if (map === undefined) return [];
  const pairs: [string, string][] = [];
  for (const [header, claim] of Object.entries(map)) {
    const path = [...at, "claims_to_headers", header];
    const problem = headerNameProblem(header);
    if (problem) r.report(path, problem, true);
    else if (typeof claim !== "string" || claim === "") {
      r.report(path, "must be a claim name (sub, email, ...)");
    } else pairs.push([header, claim]);
  }
  return pairs;
}

/** Why `name` cannot be a header the gateway sets on the upstream request, or undefined. */
export function headerNameProblem(name: string): string | undefined {
  if (!TOKEN.test(name)) return `"${name}" is not a valid header name (a token without "_")`;
  if (OWNED.test(name)) return `"${name}" is set by the gateway itself and cannot be replaced`;
  return undefined;
}

function readForward(r: Reader, raw: Raw, at: KeyPath): ForwardConfig | undefined {
  const url = r.need(raw, "url", at, asString);
  const parsed = url === undefined ? undefined : parseHttpUrl(url);
  if (parsed && "error" in parsed) r.report([...at, "url"], parsed.error);
  const pass = r.strings(raw, "pass_headers", at, { required: false });
  const copy = r.strings(raw, "copy_headers", at, { required: false }) ?? [];
  for (const item of pass ?? []) {
    if (!TOKEN.test(item.value)) r.report(item.path, `"${item.value}" is not a valid header name`);
  }
  for (const item of copy) {
    const problem = headerNameProblem(item.value);
    if (problem) r.report(item.path, problem);
  }
  const timeout = r.get(raw, "timeout", at, asDuration({ positive: true })) ?? AUTH_DEFAULTS.forward.timeout;
  const cache = r.get(raw, "cache", at, asDuration({ positive: false })) ?? AUTH_DEFAULTS.forward.cache;
  const ca = r.get(raw, "ca", at, asString);
  if (ca !== undefined && parsed && !("error" in parsed) && !parsed.tls) {
    r.report([...at, "ca"], "needs an https:// url");
  }
  if (url === undefined || parsed === undefined || "error" in parsed) return undefined;
  const config: ForwardConfig = {
    url,
    addr: parsed.addr,
    host: parsed.host,
    target: parsed.target,
    ...(pass && { pass_headers: pass.map((item) => item.value.toLowerCase()) }),
    copy_headers: copy.map((item) => item.value),
    timeout,
    cache,
  };
  if (parsed.tls) {
    const tls: NonNullable<ForwardConfig["tls"]> = { serverName: parsed.hostname };
    if (ca !== undefined) r.pemFile([...at, "ca"], ca, (pem) => tls.ca = pem);
    config.tls = tls;
  }
  return config;
}

/** http://host[:port]/path, https://..., or unix:/socket/path (GET /). */
export function parseHttpUrl(
  text: string,
): { addr: Addr; tls: boolean; hostname: string; host: string; target: string } | { error: string } {
  if (text.startsWith("unix:")) {
    const parsed = parseUpstreamAddress(text);
    return "error" in parsed ? parsed : { ...parsed, host: "localhost", target: "/" };
  }
  const match = /^(https?):\/\/([^/?#]*)([^#]*)$/i.exec(text);
  if (!match) return { error: "must be an http://, https:// or unix: URL" };
  const [, scheme, authority, rest] = match as unknown as [string, string, string, string];
  if (authority.includes("@")) return { error: "must not carry credentials (user:password@)" };
  const tls = scheme.toLowerCase() === "https";
  const parsed = parseUpstreamAddress(`${tls ? "wss" : "ws"}://${authority}`);
  if ("error" in parsed) return parsed;
  const target = rest === "" ? "/" : rest.startsWith("?") ? `/${rest}` : rest;
  if (!/^[!-~]*$/.test(target)) {
    return { error: "the path must be visible ASCII (no spaces or control characters)" };
  }
  return { ...parsed, host: authority, target };
}
