/**
 * The validated configuration and every default, in one place. `validate.ts` turns raw YAML
 * (or CLI flags) into these types; the rest of the gateway only ever sees a `Config`.
 * Durations are milliseconds.
 */
import type { Addr } from "../net/address.ts";
import type { Cidr } from "../net/cidr.ts";
import type { Template } from "../net/placeholders.ts";
import type { OriginPattern } from "../net/origin.ts";
import type { ProxyVersion } from "../net/proxy_protocol.ts";
import type { AuthConfig } from "./auth.ts";

export type Balance = "round_robin" | "least_conn" | "ip_hash" | "hash" | "random";
/** Where `balance: hash` finds its key: `header:NAME`, `cookie:NAME`, `query:NAME` or `ip`. */
export type HashKey = { source: "header" | "cookie" | "query"; name: string } | { source: "ip" };
export type HealthCheckType = "tcp" | "http" | "websocket";
export type LogFormat = "text" | "json";

export interface TlsCertConfig {
  /** Paths as resolved against the config file's directory. */
  cert_file: string;
  key_file: string;
  /** PEM text, read by load.ts (validation itself does no I/O and leaves these ""). */
  cert: string;
  key: string;
  /** SNI names served by this certificate; omitted = default certificate. */
  hosts?: string[];
}

/** `tls.acme`: a certificate obtained and renewed from an ACME CA (HTTP-01), see lib/tls/acme/. */
export interface AcmeConfig {
  /** Lower case; all on one certificate, the first is its name. */
  domains: string[];
  email?: string;
  /** The CA's directory URL. */
  directory: string;
  /** Extra trust (PEM path, resolved) for the directory's own HTTPS, besides the system's. */
  ca_file?: string;
  /** Its PEM text, read by load.ts. */
  ca?: string;
  /** Folder (resolved) for the account key and certificates: 0700, its files 0600. */
  storage: string;
  /** Renew when the remaining validity is at most this (ms); no clamping. */
  renew_before: number;
}

export interface RouteConfig {
  /** As written, e.g. "/chat/" or "= /exact". */
  path: string;
  /** The path without the "= " marker. */
  match: string;
  exact: boolean;
  /** The upstream group; "" on a route the gateway answers itself (`answer`). */
  upstream: string;
  /** Plain HTTP (no Upgrade) gets 426 instead of being passed through. */
  websocket_only: boolean;
  /** No bytes from the upstream for this long -> close (nginx proxy_read_timeout). */
  read_timeout: number;
  /** A write blocked for this long -> close (nginx proxy_send_timeout). */
  send_timeout: number;
  /** No bytes in either direction for this long -> close. 0 = never. */
  idle_timeout: number;
  /** Origin header patterns that may connect; omitted = any (see net/origin.ts). */
  allow_origins?: OriginPattern[];
  /** Client addresses that may connect; omitted = any. */
  allow?: Cidr[];
  /** Client addresses refused even when in `allow`. */
  deny?: Cidr[];
  /** Set exactly when the route has `websocket: { track_frames: true }` (see ws_tunnel.ts). */
  websocket?: WebSocketRouteConfig;
  /** `strip_prefix` / `add_prefix`; omitted = the path goes upstream as received. */
  rewrite?: PathRewrite;
  /** Header rules for the request sent upstream. */
  request_headers?: HeaderRules;
  /** Header rules for what the client receives: the upstream's answer (101 included) or `answer`. */
  response_headers?: HeaderRules;
  /** `redirect` or `respond`: the gateway answers, no upstream is contacted. */
  answer?: FixedAnswer;
  /** Authentication before the upstream is contacted (DESIGN §3b, config/auth.ts). */
  auth?: AuthConfig;
}

export interface PathRewrite {
  /** Remove the route's prefix (`match`) from the path. */
  strip: boolean;
  /** Prepended after stripping; "" = none. Starts with "/", never ends with one. */
  add: string;
}

/** A header to write, its value rendered per request. */
export interface HeaderTemplate {
  /** As written in the config (case kept). */
  name: string;
  /** Lower case. */
  lower: string;
  value: Template;
}

/** `set` / `add` / `remove`, compiled: `drop` holds the lower-case names removed from what came
 * (remove's and set's, except Host, which a set whose value cannot be sent leaves in place). */
export interface HeaderRules {
  drop: string[];
  set: HeaderTemplate[];
  add: HeaderTemplate[];
}

export type FixedAnswer =
  | { kind: "redirect"; status: 301 | 302 | 303 | 307 | 308; to: Template }
  | { kind: "respond"; status: number; body: string; content_type: string };

/** A tunnel that follows WebSocket frames: keepalive pings, Close frames when wsgate ends it. */
export interface WebSocketRouteConfig {
  /** Ping a side silent for this long; 0 = no keepalive. */
  ping_interval: number;
  /** A pinged side still silent this long after the ping is dead. */
  ping_timeout: number;
}

export interface ServerConfig {
  listen: Addr[];
  tls?: TlsCertConfig[];
  /** Set instead of `tls` certificates when the server's certificate comes from ACME. */
  acme?: AcmeConfig;
  /** Host names this server answers (like server_name); omitted = any. `*.example.com` allowed. */
  hosts?: string[];
  routes: RouteConfig[];
  /** Connections start with a PROXY protocol v1/v2 header (accepted only from trusted_proxies). */
  proxy_protocol: boolean;
  /** Plain HTTP: how long a client connection waits for its next request; 0 = one request each. */
  keepalive_timeout: number;
  /** Plain HTTP: requests one client connection may carry; the last answer says Connection: close. */
  max_requests_per_connection: number;
  /** Mutual TLS (`tls.client_ca`, `tls.client_auth`); only with `tls`. */
  client_auth?: ClientAuthConfig;
}

/** Client certificates on a TLS server (nginx ssl_client_certificate + ssl_verify_client). */
export interface ClientAuthConfig {
  /** Resolved against the config file's directory. */
  ca_file: string;
  /** Its PEM text, read by load.ts. */
  ca: string;
  /** require: no verified certificate, no handshake; optional: the handshake goes on either way. */
  mode: "require" | "optional";
}

export interface UpstreamServerConfig {
  /** As written, used in logs: "127.0.0.1:8080", "wss://b.internal", "unix:/run/app.sock". */
  address: string;
  addr: Addr;
  /** wss:// = TLS to this server. */
  tls: boolean;
  /** Host name for SNI/verification when tls (from the URL), unless the group sets server_name. */
  hostname: string;
  weight: number;
  /** Most tunnels (and handshakes) at once; 0 = unlimited. Full servers are skipped. */
  max_conns: number;
  /** Used only when no primary server is available. */
  backup: boolean;
  /** This many failed attempts within fail_timeout -> unavailable for fail_timeout. 0 = never. */
  max_fails: number;
  fail_timeout: number;
  /** Configured out: never picked. */
  down: boolean;
}

/** The per-server options of a server entry (everything but where it is). */
export type ServerOptions = Pick<
  UpstreamServerConfig,
  "weight" | "max_conns" | "backup" | "max_fails" | "fail_timeout" | "down"
>;

/** Servers found through DNS (upstream/discovery.ts): every A/AAAA address of `name` with `port`
 * (`resolve: true`), or the target:port of each SRV record of `name` (`srv:`, whose records
 * also give the weights, and whose priorities say which servers are backups). */
export interface DiscoveredServersConfig {
  type: "resolve" | "srv";
  /** Lower case, without a trailing dot. */
  name: string;
  /** As written, for logs: "app.default.svc:8080", "_ws._tcp.app.default.svc". */
  source: string;
  /** resolve: the address's port; srv: 0 (each record has its own). */
  port: number;
  /** wss:// = TLS to each server, verified for `hostname`. */
  tls: boolean;
  hostname: string;
  options: ServerOptions;
}

/** Where and how often a group's DNS names are looked up. */
export interface ResolverConfig {
  /** Asked in order; omitted = the `nameserver` lines of /etc/resolv.conf. */
  nameservers?: Extract<Addr, { transport: "tcp" }>[];
  interval: number;
  /** For one question to one name server. */
  timeout: number;
}

/** Active health checks of every server of a group. */
export interface HealthCheckConfig {
  /** tcp: connect (and TLS); http: GET path answered with expect_status; websocket: a real handshake. */
  type: HealthCheckType;
  interval: number;
  /** For one whole check. */
  timeout: number;
  path: string;
  /** Consecutive passes that make an unhealthy server healthy, and failures that do the opposite. */
  rise: number;
  fall: number;
  /** http: statuses that pass; omitted = any 2xx or 3xx. */
  expect_status?: number[];
}

export interface UpstreamTlsConfig {
  server_name?: string;
  /** Path of a PEM file with extra trusted CAs, resolved against the config file's directory. */
  ca_file?: string;
  /** Its PEM text, read by load.ts. */
  ca?: string;
  verify: boolean;
  /** A client certificate presented to wss:// servers (nginx proxy_ssl_certificate); PEM read by
   * load.ts, paths resolved against the config file's directory. */
  client_cert?: { cert_file: string; key_file: string; cert: string; key: string };
}

export interface UpstreamConfig {
  name: string;
  balance: Balance;
  /** The servers written with an address; those found through DNS join them at run time. */
  servers: UpstreamServerConfig[];
  /** `resolve: true` and `srv:` entries, in the order written. */
  discovered: DiscoveredServersConfig[];
  /** Set exactly when `discovered` is not empty. */
  resolver?: ResolverConfig;
  tls: UpstreamTlsConfig;
  /** Dialling one server takes longer than this -> next server. */
  connect_timeout: number;
  /** Always set when balance is "hash"; with another balance it is unused. */
  hash_key?: HashKey;
  /** Further servers tried after a failed attempt; omitted = every server once (servers - 1, counted
   * when a connection is placed, since DNS changes the servers). */
  retries?: number;
  health_check?: HealthCheckConfig;
  /** Send a PROXY protocol header of this version first on every upstream connection. */
  send_proxy_protocol?: ProxyVersion;
  /** Plain HTTP: idle connections kept per server for reuse (nginx `keepalive`); 0 = none. */
  keepalive: number;
  /** An idle kept connection is closed after this long. */
  keepalive_timeout: number;
}

export interface LimitsConfig {
  /** Head not complete within this -> 408; upstream answer not within this -> 504. */
  handshake_timeout: number;
  max_head_bytes: number;
  max_headers: number;
  /** A longer request line -> 414. */
  max_request_line: number;
  /** Connections at once, per process (handshakes and tunnels); more -> 503. */
  max_connections: number;
  /** Connections at once from one client IP; more -> 503. */
  max_connections_per_ip: number;
  /** Handshakes per second per client IP (token bucket); more -> 429. 0 = off. */
  rate: number;
  /** Handshakes one IP may make at once before `rate` applies. */
  burst: number;
}

export interface LogConfig {
  format: LogFormat;
  access: boolean;
}

export interface AdminConfig {
  /** /healthz, /metrics, /status, /reload, drain: keep it on loopback or a unix socket. */
  listen: Addr;
  /** Host names answered besides loopback names and IP literals (others: 421, against DNS
   * rebinding). Lower case, without a trailing dot. */
  hosts: string[];
  /** Resolved against the config file's directory; set exactly when `token` is. */
  token_file?: string;
  /** The file's one line: `Authorization: Bearer` it on every endpoint but /healthz. Read by
   * load.ts (validation leaves it ""). */
  token?: string;
}

export interface Config {
  /** Where it came from, for messages: a file path, "command-line flags" or "built-in default". */
  source: string;
  servers: ServerConfig[];
  upstreams: Map<string, UpstreamConfig>;
  limits: LimitsConfig;
  log: LogConfig;
  shutdown_timeout: number;
  /** Peers whose PROXY protocol headers and X-Forwarded-For are believed. */
  trusted_proxies: Cidr[];
  /** The request ID's header (kept from trusted_proxies, else generated); "" = no request IDs. */
  request_id_header: string;
  /** Processes sharing each listening port (SO_REUSEPORT); "auto" = one per CPU core. */
  workers: number | "auto";
  /** Off unless configured. */
  admin?: AdminConfig;
  /** On shutdown, frame-tracking tunnels get their Close spread over this window; omitted = 0 (at once). */
  close_spread?: number;
  /** Reload when the config file (--config, or ./wsgate.yaml) changes: process/config_watch.ts. */
  watch_config: boolean;
}

const DAY = 86_400_000;

/** Every default, documented in config.example.yaml. */
export const DEFAULTS = {
  route: {
    websocket_only: false,
    // Long on purpose: WebSockets live for days, and nginx's 60 s default is its #1 complaint.
    read_timeout: DAY,
    send_timeout: DAY,
    idle_timeout: 0,
  },
  upstream: {
    balance: "round_robin" as Balance,
    connect_timeout: 5_000,
    tls: { verify: true },
    // Opt-in, like nginx: a backend that closes idle connections early would otherwise see
    // its first reused request fail (retried once, but only when idempotent).
    keepalive: 0,
    keepalive_timeout: 60_000,
    health_check: {
      type: "tcp" as HealthCheckType,
      interval: 5_000,
      timeout: 2_000,
      path: "/",
      rise: 2,
      fall: 3,
    },
  },
  // nginx's defaults: max_fails=1 fail_timeout=10s.
  server: { weight: 1, max_conns: 0, backup: false, max_fails: 1, fail_timeout: 10_000, down: false },
  // burst has no fixed default: it is `rate` (rounded up, at least 1).
  limits: {
    handshake_timeout: 10_000,
    max_head_bytes: 16_384,
    max_headers: 100,
    max_request_line: 8_192,
    max_connections: 100_000,
    // Off by default like nginx and HAProxy: behind a local proxy every client is 127.0.0.1.
    max_connections_per_ip: 0,
    rate: 0,
  },
  log: { format: "text" as LogFormat, access: true },
  shutdown_timeout: 30_000,
  /** Routes with `websocket: { track_frames: true }`. */
  websocket: { ping_interval: 30_000, ping_timeout: 10_000 },
  /** Only loopback names and IP literals: a name must be listed to be answered. */
  admin: { hosts: [] as readonly string[] },
  // nginx's `resolver ... valid=`-like refresh; a Kubernetes Service's answers change at this pace.
  resolver: { interval: 10_000, timeout: 2_000 },
  watch_config: false,
  /** A server block's listeners expect PROXY protocol headers. */
  proxy_protocol: false,
  /** Plain HTTP client keep-alive (nginx: keepalive_timeout 75s, keepalive_requests 1000). */
  keepalive: { timeout: 75_000, max_requests: 1_000 },
  client_auth: "require" as "require" | "optional",
  workers: 1 as number | "auto",
  request_id_header: "X-Request-Id",
  /** `respond` without content_type. */
  respond_content_type: "text/plain; charset=utf-8",
  /** `redirect` without status (like Caddy's redir and Traefik's RedirectRegex). */
  redirect_status: 302 as 301 | 302 | 303 | 307 | 308,
  acme: {
    directory: "https://acme-v02.api.letsencrypt.org/directory",
    /** Beside the config file. */
    storage: "acme",
    // Let's Encrypt's own advice for its 90-day certificates: renew with 30 days left.
    renew_before: 30 * DAY,
  },
  /** Built-in default (no file, no flags). */
  listen: "0.0.0.0:8020",
  upstreamAddress: "127.0.0.1:8080",
} as const;
