/**
 * Keys about connections themselves, on both sides: client keep-alive and client certificates on
 * servers; kept idle connections and the client certificate presented on upstream groups. Pure,
 * like the rest of validation; validate.ts and upstreams.ts call these.
 */
import { asDuration, asInteger, asOneOf, asString, type KeyPath, type Raw, type Reader } from "./reader.ts";
import { type ClientAuthConfig, DEFAULTS, type ServerConfig, type UpstreamTlsConfig } from "./schema.ts";

/** Keys of a server's `tls:` mapping read here. */
export const SERVER_TLS_KEYS = ["client_ca", "client_auth"] as const;
/** Keys of an upstream group's `tls:` mapping read here. */
export const UPSTREAM_TLS_KEYS = ["cert", "key"] as const;
export const UPSTREAM_KEYS = ["keepalive", "keepalive_timeout"] as const;
export const SERVER_KEYS = ["keepalive_timeout", "max_requests_per_connection"] as const;

export function readServerKeepAlive(
  r: Reader,
  server: Raw,
  path: KeyPath,
): Pick<ServerConfig, "keepalive_timeout" | "max_requests_per_connection"> {
  return {
    keepalive_timeout: r.get(server, "keepalive_timeout", path, asDuration({ positive: false })) ??
      DEFAULTS.keepalive.timeout,
    max_requests_per_connection:
      r.get(server, "max_requests_per_connection", path, asInteger(1, 1_000_000)) ??
        DEFAULTS.keepalive.max_requests,
  };
}

const CLIENT_AUTH_MODES = ["require", "optional"] as const;

/**
 * `client_ca` / `client_auth` of a server's TLS entries. In a list of certificates (SNI) they
 * belong to the listener, which asks for a client certificate before SNI picks one: they may be
 * written on one entry only.
 */
export function readClientAuth(
  r: Reader,
  entries: { value: Raw; path: KeyPath }[],
): ClientAuthConfig | undefined {
  let found: { path: KeyPath; config: ClientAuthConfig } | undefined;
  for (const { value, path } of entries) {
    if (value.client_ca === undefined) {
      if (value.client_auth !== undefined) r.report([...path, "client_auth"], 'needs "client_ca"');
      continue;
    }
    if (found) {
      const first = `tls[${found.path.at(-1)}]`;
      r.report([...path, "client_ca"], `client certificates are set once per server; ${first} already does`);
      continue;
    }
    const why = r.unsupported.client_ca;
    // Never silently unverified: a runtime that cannot check client certificates refuses the key.
    if (why !== undefined) r.report([...path, "client_ca"], why);
    const mode = r.get(value, "client_auth", path, asOneOf(CLIENT_AUTH_MODES)) ?? DEFAULTS.client_auth;
    const ca = r.get(value, "client_ca", path, asString);
    const config: ClientAuthConfig = { ca_file: "", ca: "", mode };
    if (ca !== undefined) config.ca_file = r.pemFile([...path, "client_ca"], ca, (pem) => config.ca = pem);
    found = { path, config };
  }
  return found?.config;
}

export function readUpstreamKeepAlive(r: Reader, group: Raw, path: KeyPath): {
  keepalive: number;
  keepalive_timeout: number;
} {
  const timeout = r.get(group, "keepalive_timeout", path, asDuration({ positive: true }));
  if (timeout !== undefined && group.keepalive === undefined) {
    r.report([...path, "keepalive_timeout"], 'only used with "keepalive" (idle connections kept per server)');
  }
  const keepalive = r.get(group, "keepalive", path, asInteger(0, 10_000)) ?? DEFAULTS.upstream.keepalive;
  if (keepalive > 0 && group.send_proxy_protocol !== undefined) {
    // A kept connection's PROXY header names the client it was opened for, not the next one.
    r.report(
      [...path, "keepalive"],
      "cannot be used with send_proxy_protocol (a PROXY header names one client)",
    );
  }
  return { keepalive, keepalive_timeout: timeout ?? DEFAULTS.upstream.keepalive_timeout };
}

/** `tls: { cert, key }` on an upstream group: both or neither. */
export function readUpstreamClientCert(
  r: Reader,
  tls: Raw,
  path: KeyPath,
): Pick<UpstreamTlsConfig, "client_cert"> {
  const cert = r.get(tls, "cert", path, asString);
  const key = r.get(tls, "key", path, asString);
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    r.report(path, `a client certificate needs both "cert" and "key"`);
    return {};
  }
  if (cert === undefined || key === undefined) return {};
  const client = { cert_file: "", key_file: "", cert: "", key: "" };
  client.cert_file = r.pemFile([...path, "cert"], cert, (pem) => client.cert = pem);
  client.key_file = r.pemFile([...path, "key"], key, (pem) => client.key = pem);
  return { client_cert: client };
}
