/**
 * The validated configuration and every default, in one place. `validate.ts` turns raw YAML
 * (or CLI flags) into these types; the rest of the gateway only ever sees a `Config`.
 * Durations are milliseconds.
 */
import type { Addr } from "../runtime/types.ts";

export type Balance = "round_robin";
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

export interface RouteConfig {
  /** As written, e.g. "/chat/" or "= /exact". */
  path: string;
  /** The path without the "= " marker. */
  match: string;
  exact: boolean;
  upstream: string;
  /** Plain HTTP (no Upgrade) gets 426 instead of being passed through. */
  websocket_only: boolean;
  /** No bytes from the upstream for this long -> close (nginx proxy_read_timeout). */
  read_timeout: number;
  /** A write blocked for this long -> close (nginx proxy_send_timeout). */
  send_timeout: number;
  /** No bytes in either direction for this long -> close. 0 = never. */
  idle_timeout: number;
}

export interface ServerConfig {
  listen: Addr[];
  tls?: TlsCertConfig[];
  /** Host names this server answers (like server_name); omitted = any. `*.example.com` allowed. */
  hosts?: string[];
  routes: RouteConfig[];
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
}

export interface UpstreamTlsConfig {
  server_name?: string;
  /** Path of a PEM file with extra trusted CAs, resolved against the config file's directory. */
  ca_file?: string;
  /** Its PEM text, read by load.ts. */
  ca?: string;
  verify: boolean;
}

export interface UpstreamConfig {
  name: string;
  balance: Balance;
  servers: UpstreamServerConfig[];
  tls: UpstreamTlsConfig;
  /** Dialling one server takes longer than this -> next server. */
  connect_timeout: number;
}

export interface LimitsConfig {
  /** Head not complete within this -> 408; upstream answer not within this -> 504. */
  handshake_timeout: number;
  max_head_bytes: number;
  max_headers: number;
}

export interface LogConfig {
  format: LogFormat;
  access: boolean;
}

export interface Config {
  /** Where it came from, for messages: a file path, "command-line flags" or "built-in default". */
  source: string;
  servers: ServerConfig[];
  upstreams: Map<string, UpstreamConfig>;
  limits: LimitsConfig;
  log: LogConfig;
  shutdown_timeout: number;
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
  },
  server: { weight: 1 },
  limits: { handshake_timeout: 10_000, max_head_bytes: 16_384, max_headers: 100 },
  log: { format: "text" as LogFormat, access: true },
  shutdown_timeout: 30_000,
  /** Built-in default (no file, no flags). */
  listen: "0.0.0.0:8020",
  upstreamAddress: "127.0.0.1:8080",
} as const;
