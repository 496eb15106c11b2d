/**
 * The `upstreams:` section of the config: groups of servers with their balancing policy, passive
 * and active health checks, retries and TLS. Pure, like the rest of validation; validate.ts calls
 * readUpstreams() and config.example.yaml documents every key.
 */
import { type Addr, parseUpstreamAddress } from "../net/address.ts";
import { ownListener } from "../net/own_address.ts";
import {
  asBoolean,
  asDuration,
  asInteger,
  asOneOf,
  asString,
  Invalid,
  isRecord,
  type KeyPath,
  type Parse,
  type Raw,
  type Reader,
} from "./reader.ts";
import {
  type Balance,
  DEFAULTS,
  type DiscoveredServersConfig,
  type HashKey,
  type HealthCheckConfig,
  type HealthCheckType,
  type ServerOptions,
  type UpstreamConfig,
  type UpstreamServerConfig,
  type UpstreamTlsConfig,
} from "./schema.ts";
import { parseHashKey } from "./hash_key.ts";
import { readSendProxyProtocol } from "./admission.ts";
import { readResolvedServer, readResolver, readSrvServer } from "./discovery.ts";
import {
  readUpstreamClientCert,
  readUpstreamKeepAlive,
  UPSTREAM_KEYS,
  UPSTREAM_TLS_KEYS,
} from "./connections.ts";

const KEYS = {
  upstream: [
    "balance",
    "hash_key",
    "servers",
    "retries",
    "health_check",
    "tls",
    "connect_timeout",
    "send_proxy_protocol",
    "resolver",
    ...UPSTREAM_KEYS,
  ],
  server: ["address", "resolve", "srv", "weight", "max_conns", "backup", "max_fails", "fail_timeout", "down"],
  tls: ["server_name", "ca", "verify", ...UPSTREAM_TLS_KEYS],
  healthCheck: ["type", "interval", "timeout", "path", "rise", "fall", "expect_status"],
} as const;

const BALANCES = ["round_robin", "least_conn", "ip_hash", "hash", "random"] as const;
const HEALTH_TYPES = ["tcp", "http", "websocket"] as const;
const UPSTREAM_NAME = /^[A-Za-z0-9_.-]+$/;
/** An origin-form request target: printable ASCII, no spaces. */
const REQUEST_PATH = /^\/[\x21-\x7e]*$/;

/** `own`: the gateway's listen and admin addresses, which no server may be (a request would loop). */
export function readUpstreams(r: Reader, root: Raw, own: readonly Addr[] = []): Map<string, UpstreamConfig> {
  const groups = new Map<string, UpstreamConfig>();
  if (root.upstreams === undefined) {
    r.report([], `missing required key "upstreams"`);
    return groups;
  }
  const all = r.mapping(root.upstreams, ["upstreams"]) ?? {};
  if (isRecord(root.upstreams) && Object.keys(all).length === 0) {
    r.report(["upstreams"], "must define at least one upstream group");
  }
  for (const [name, value] of Object.entries(all)) {
    const path = ["upstreams", name];
    if (!UPSTREAM_NAME.test(name)) {
      r.report(path, `invalid upstream name "${name}" (use letters, digits, _ - .)`, true);
    }
    const obj = r.mapping(value, path, KEYS.upstream);
    if (obj !== undefined) groups.set(name, readGroup(r, name, obj, path, own));
  }
  return groups;
}

function readGroup(r: Reader, name: string, obj: Raw, path: KeyPath, own: readonly Addr[]): UpstreamConfig {
  const servers: UpstreamServerConfig[] = [];
  const discovered: DiscoveredServersConfig[] = [];
  for (const item of r.list(obj, "servers", path, { required: true }) ?? []) {
    const server = readServer(r, item.value, item.path);
    if (server && "type" in server) discovered.push(server);
    else if (server) {
      const listener = server.addr.transport === "tcp" ? ownListener(server.addr, own) : undefined;
      if (listener) {
        r.report(
          item.path,
          `${server.address} is this gateway's own listener ${listener}: requests would loop`,
        );
      }
      servers.push(server);
    }
  }
  const resolver = readResolver(r, obj, path, discovered.length > 0);
  const retries = r.get(obj, "retries", path, asInteger(0, 100));
  const balance = r.get(obj, "balance", path, asBalance);
  const hashKey = readHashKey(r, obj, path, balance);
  const healthCheck = readHealthCheck(r, obj, path);
  return {
    name,
    balance: balance ?? DEFAULTS.upstream.balance,
    servers,
    discovered,
    ...(resolver && { resolver }),
    tls: readTls(r, obj, path),
    connect_timeout: r.get(obj, "connect_timeout", path, asDuration({ positive: true })) ??
      DEFAULTS.upstream.connect_timeout,
    ...(hashKey && { hash_key: hashKey }),
    // The default tries every server once, like nginx's proxy_next_upstream_tries 0; with servers
    // from DNS, their number is known only when a connection is placed.
    ...(retries !== undefined || discovered.length === 0
      ? { retries: retries ?? Math.max(0, servers.length - 1) }
      : {}),
    ...(healthCheck && { health_check: healthCheck }),
    ...readSendProxyProtocol(r, obj, path),
    ...readUpstreamKeepAlive(r, obj, path),
  };
}

/** Required with balance: hash. With another policy it is still checked and kept, but unused (a
 * warning at start), so a group can switch policies by editing one line (DESIGN.md's own example
 * sets both). */
function readHashKey(r: Reader, obj: Raw, path: KeyPath, balance: Balance | undefined): HashKey | undefined {
  if (balance === "hash") return r.need(obj, "hash_key", path, asHashKey);
  return r.get(obj, "hash_key", path, asHashKey);
}

function readTls(r: Reader, obj: Raw, path: KeyPath): UpstreamTlsConfig {
  const raw = r.section(obj, "tls", path, KEYS.tls);
  const tlsPath = [...path, "tls"];
  const serverName = r.get(raw, "server_name", tlsPath, asString);
  const ca = r.get(raw, "ca", tlsPath, asString);
  const tls: UpstreamTlsConfig = {
    ...(serverName !== undefined && { server_name: serverName }),
    verify: r.get(raw, "verify", tlsPath, asBoolean) ?? DEFAULTS.upstream.tls.verify,
    ...readUpstreamClientCert(r, raw, tlsPath),
  };
  if (ca !== undefined) tls.ca_file = r.pemFile([...tlsPath, "ca"], ca, (pem) => tls.ca = pem);
  return tls;
}

function readHealthCheck(r: Reader, obj: Raw, groupPath: KeyPath): HealthCheckConfig | undefined {
  if (obj.health_check === undefined) return undefined;
  const path = [...groupPath, "health_check"];
  const raw = r.mapping(obj.health_check, path, KEYS.healthCheck);
  if (raw === undefined) return undefined;
  const defaults = DEFAULTS.upstream.health_check;
  const type = r.get(raw, "type", path, asOneOf<HealthCheckType>(HEALTH_TYPES)) ?? defaults.type;
  const expectStatus = r.get(raw, "expect_status", path, asStatuses);
  if (raw.path !== undefined && type === "tcp") {
    r.report([...path, "path"], "only used with type: http or websocket");
  }
  if (raw.expect_status !== undefined && type !== "http") {
    r.report([...path, "expect_status"], "only used with type: http");
  }
  const count = (key: "rise" | "fall") => r.get(raw, key, path, asInteger(1, 100)) ?? defaults[key];
  return {
    type,
    interval: r.get(raw, "interval", path, asDuration({ positive: true })) ?? defaults.interval,
    timeout: r.get(raw, "timeout", path, asDuration({ positive: true })) ?? defaults.timeout,
    path: r.get(raw, "path", path, asRequestPath) ?? defaults.path,
    rise: count("rise"),
    fall: count("fall"),
    ...(expectStatus && { expect_status: expectStatus }),
  };
}

/** A string address (every option at its default), or { address, weight, max_conns, ... }, or a
 * DNS-discovered entry ({ address, resolve: true } or { srv }). */
function readServer(
  r: Reader,
  value: unknown,
  path: KeyPath,
): UpstreamServerConfig | DiscoveredServersConfig | undefined {
  const defaults = DEFAULTS.server;
  if (typeof value === "string") return withAddress(r, value, path, defaults);
  const obj = r.mapping(value, path, KEYS.server);
  if (obj === undefined) return undefined;
  const options: ServerOptions = {
    weight: r.get(obj, "weight", path, asInteger(1)) ?? defaults.weight,
    max_conns: r.get(obj, "max_conns", path, asInteger(0, 1_000_000)) ?? defaults.max_conns,
    backup: r.get(obj, "backup", path, asBoolean) ?? defaults.backup,
    max_fails: r.get(obj, "max_fails", path, asInteger(0, 1_000)) ?? defaults.max_fails,
    fail_timeout: r.get(obj, "fail_timeout", path, asDuration({ positive: true })) ?? defaults.fail_timeout,
    down: r.get(obj, "down", path, asBoolean) ?? defaults.down,
  };
  if (obj.srv !== undefined) return readSrvServer(r, obj, path, options);
  const address = r.need(obj, "address", path, asString);
  if (address === undefined) return undefined;
  if (r.get(obj, "resolve", path, asBoolean)) return readResolvedServer(r, address, path, options);
  return withAddress(r, address, [...path, "address"], options);
}

function withAddress(
  r: Reader,
  address: string,
  path: KeyPath,
  options: ServerOptions,
): UpstreamServerConfig | undefined {
  const parsed = parseUpstreamAddress(address);
  if (!("error" in parsed)) return { address, ...parsed, ...options };
  r.report(path, parsed.error);
  return undefined;
}

const asBalance: Parse<Balance> = (value) =>
  BALANCES.find((b) => b === value) ??
    new Invalid(`unsupported balance ${JSON.stringify(value)}; supported: ${BALANCES.join(", ")}`);

const asHashKey: Parse<HashKey> = (value) => {
  if (typeof value !== "string") return new Invalid("must be header:NAME, cookie:NAME, query:NAME or ip");
  const parsed = parseHashKey(value);
  return "error" in parsed ? new Invalid(parsed.error) : parsed;
};

const asRequestPath: Parse<string> = (value) =>
  typeof value === "string" && REQUEST_PATH.test(value)
    ? value
    : new Invalid('must be a request path starting with "/" (no spaces)');

const STATUS_HINT = "must be an HTTP status (100..599) or a list of them";

const asStatuses: Parse<number[]> = (value) => {
  const list = Array.isArray(value) ? value : [value];
  const valid = list.length > 0 &&
    list.every((s) => typeof s === "number" && Number.isInteger(s) && s >= 100 && s <= 599);
  return valid ? list as number[] : new Invalid(STATUS_HINT);
};
