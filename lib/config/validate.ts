/**
 * Raw config (parsed YAML, or the object built from CLI flags) -> a validated `Config`. Pure:
 * PEM files are only named here (`files`), load.ts reads them. Every problem is collected with
 * its key path, so one run shows them all; the first one never hides the rest.
 */
import { formatAddr, parseListenAddress, parseUpstreamAddress } from "./address.ts";
import {
  asBoolean,
  asDuration,
  asInteger,
  asOneOf,
  asString,
  closest,
  type ConfigIssue,
  Invalid,
  isRecord,
  type KeyPath,
  type Parse,
  type PemFile,
  type Raw,
  Reader,
} from "./reader.ts";
import {
  type Config,
  DEFAULTS,
  type LimitsConfig,
  type LogConfig,
  type LogFormat,
  type RouteConfig,
  type ServerConfig,
  type TlsCertConfig,
  type UpstreamConfig,
  type UpstreamServerConfig,
  type UpstreamTlsConfig,
} from "./schema.ts";

export type { ConfigIssue, KeyPath, PemFile };

const KEYS = {
  root: ["servers", "upstreams", "limits", "log", "shutdown_timeout"],
  server: ["listen", "tls", "hosts", "routes"],
  cert: ["cert", "key", "hosts"],
  route: ["path", "upstream", "websocket_only", "read_timeout", "send_timeout", "idle_timeout"],
  upstream: ["balance", "servers", "tls", "connect_timeout"],
  upstreamServer: ["address", "weight"],
  upstreamTls: ["server_name", "ca", "verify"],
  limits: ["handshake_timeout", "max_head_bytes", "max_headers"],
  log: ["format", "access"],
} as const;

const BALANCES = ["round_robin"] as const;
const LOG_FORMATS = ["text", "json"] as const;
const UPSTREAM_NAME = /^[A-Za-z0-9_.-]+$/;
const HOST_PATTERN = /^(?:\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/i;
const ROUTE_PATH = /^(=\s*)?(\/\S*)$/;

/**
 * raw = the parsed YAML/JS value. Collects EVERY problem. baseDir resolves relative file paths
 * (tls cert/key, ca); `files` lists them for load.ts, even when there are issues, so unreadable
 * files are reported together with everything else.
 */
export function validateConfig(
  raw: unknown,
  options: { source: string; baseDir: string },
): { config?: Config; issues: ConfigIssue[]; files: PemFile[] } {
  const r = new Reader(options.baseDir);
  const root = r.mapping(raw, [], KEYS.root);
  if (root === undefined) return { issues: r.issues, files: [] };
  const names = isRecord(root.upstreams) ? Object.keys(root.upstreams) : undefined;
  const servers = readServers(r, root, names);
  const upstreams = readUpstreams(r, root);
  const limitsRaw = r.section(root, "limits", [], KEYS.limits);
  const limits: LimitsConfig = {
    handshake_timeout: r.get(limitsRaw, "handshake_timeout", ["limits"], asDuration({ positive: true })) ??
      DEFAULTS.limits.handshake_timeout,
    max_head_bytes: r.get(limitsRaw, "max_head_bytes", ["limits"], asInteger(1_024, 1_048_576)) ??
      DEFAULTS.limits.max_head_bytes,
    max_headers: r.get(limitsRaw, "max_headers", ["limits"], asInteger(1, 10_000)) ??
      DEFAULTS.limits.max_headers,
  };
  const logRaw = r.section(root, "log", [], KEYS.log);
  const log: LogConfig = {
    format: r.get(logRaw, "format", ["log"], asOneOf<LogFormat>(LOG_FORMATS)) ?? DEFAULTS.log.format,
    access: r.get(logRaw, "access", ["log"], asBoolean) ?? DEFAULTS.log.access,
  };
  const shutdown_timeout = r.get(root, "shutdown_timeout", [], asDuration({ positive: false })) ??
    DEFAULTS.shutdown_timeout;
  if (r.issues.length > 0) return { issues: r.issues, files: r.files };
  return {
    config: { source: options.source, servers, upstreams, limits, log, shutdown_timeout },
    issues: [],
    files: r.files,
  };
}

/** ["upstreams","websocket","servers",1,"weight"] -> "upstreams.websocket.servers[1].weight". */
export function formatPath(path: KeyPath): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(part)) text += text === "" ? part : `.${part}`;
    else text += `[${JSON.stringify(part)}]`;
  }
  return text;
}

function readServers(r: Reader, root: Raw, upstreamNames: string[] | undefined): ServerConfig[] {
  /** Listen address -> the first server using it, to catch TLS and plain HTTP on one socket. */
  const listeners = new Map<string, { server: number; tls: boolean }>();
  const servers: ServerConfig[] = [];
  for (const [server, { value, path }] of (r.list(root, "servers", [], { required: true }) ?? []).entries()) {
    const obj = r.mapping(value, path, KEYS.server);
    if (obj === undefined) continue;
    const tls = obj.tls === undefined ? undefined : readCerts(r, obj, path);
    const listen = [];
    for (const item of r.strings(obj, "listen", path, { required: true }) ?? []) {
      const addr = parseListenAddress(item.value);
      if ("error" in addr) {
        r.report(item.path, addr.error);
        continue;
      }
      listen.push(addr);
      const key = formatAddr(addr);
      const first = listeners.get(key);
      if (first?.server === server) r.report(item.path, `duplicate listen address "${key}"`);
      else if (first && first.tls !== (obj.tls !== undefined)) {
        const other = `servers[${first.server}] ${first.tls ? "with" : "without"} TLS`;
        r.report(item.path, `listen address "${key}" is also used by ${other}; both must use TLS or neither`);
      } else if (!first && !(addr.transport === "tcp" && addr.port === 0)) {
        listeners.set(key, { server, tls: obj.tls !== undefined });
      }
    }
    const hosts = readHosts(r, obj, path);
    const routes = readRoutes(r, obj, path, upstreamNames);
    servers.push({ listen, ...(tls && { tls }), ...(hosts && { hosts }), routes });
  }
  return servers;
}

/** `tls:` is one { cert, key } or a list of { cert, key, hosts } for SNI. */
function readCerts(r: Reader, server: Raw, serverPath: KeyPath): TlsCertConfig[] {
  const entries = Array.isArray(server.tls)
    ? r.list(server, "tls", serverPath, { required: false }) ?? []
    : [{ value: server.tls, path: [...serverPath, "tls"] }];
  const certs: TlsCertConfig[] = [];
  let defaultAt: KeyPath | undefined;
  for (const entry of entries) {
    const obj = r.mapping(entry.value, entry.path, KEYS.cert);
    if (obj === undefined) continue;
    const cert = r.need(obj, "cert", entry.path, asString);
    const key = r.need(obj, "key", entry.path, asString);
    const hosts = readHosts(r, obj, entry.path);
    const config: TlsCertConfig = { cert_file: "", key_file: "", cert: "", key: "", ...(hosts && { hosts }) };
    if (cert !== undefined) {
      config.cert_file = r.pemFile([...entry.path, "cert"], cert, (pem) => config.cert = pem);
    }
    if (key !== undefined) {
      config.key_file = r.pemFile([...entry.path, "key"], key, (pem) => config.key = pem);
    }
    if (hosts === undefined && obj.hosts === undefined) {
      if (defaultAt) {
        r.report(
          entry.path,
          `only one certificate may omit "hosts" (the default); ${formatPath(defaultAt)} already does`,
        );
      } else defaultAt = entry.path;
    }
    certs.push(config);
  }
  return certs;
}

function readHosts(r: Reader, obj: Raw, path: KeyPath): string[] | undefined {
  const items = r.strings(obj, "hosts", path, { required: false });
  if (items === undefined) return undefined;
  for (const item of items) {
    if (!HOST_PATTERN.test(item.value)) {
      r.report(
        item.path,
        `invalid host name "${item.value}" (use names like chat.example.com or *.example.com)`,
      );
    }
  }
  // Host headers match case-insensitively; lower-case once here so routing need not.
  return items.map((item) => item.value.toLowerCase());
}

function readRoutes(
  r: Reader,
  obj: Raw,
  serverPath: KeyPath,
  upstreamNames: string[] | undefined,
): RouteConfig[] {
  const seen = new Map<string, number>();
  const routes: RouteConfig[] = [];
  for (const { value, path } of r.list(obj, "routes", serverPath, { required: true }) ?? []) {
    const route = r.mapping(value, path, KEYS.route);
    if (route === undefined) continue;
    const written = r.need(route, "path", path, asRoutePath);
    const key = written && `${written.exact ? "=" : ""}${written.match}`;
    const first = key === undefined ? undefined : seen.get(key);
    if (first !== undefined) {
      r.report([...path, "path"], `duplicate route path "${written?.path}" (also routes[${first}])`);
    } else if (key !== undefined) seen.set(key, path.at(-1) as number);
    const upstream = r.need(route, "upstream", path, asString);
    if (upstream !== undefined && upstreamNames && !upstreamNames.includes(upstream)) {
      const hint = closest(upstream, upstreamNames);
      const known = hint ? `did you mean "${hint}"?` : `defined: ${upstreamNames.join(", ") || "none"}`;
      r.report([...path, "upstream"], `unknown upstream "${upstream}"; ${known}`);
    }
    const timeout = (name: "read_timeout" | "send_timeout" | "idle_timeout", positive: boolean) =>
      r.get(route, name, path, asDuration({ positive })) ?? DEFAULTS.route[name];
    routes.push({
      ...(written ?? { path: "", match: "", exact: false }),
      upstream: upstream ?? "",
      websocket_only: r.get(route, "websocket_only", path, asBoolean) ?? DEFAULTS.route.websocket_only,
      read_timeout: timeout("read_timeout", true),
      send_timeout: timeout("send_timeout", true),
      idle_timeout: timeout("idle_timeout", false),
    });
  }
  return routes;
}

function readUpstreams(r: Reader, root: Raw): Map<string, UpstreamConfig> {
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
    if (obj === undefined) continue;
    const servers: UpstreamServerConfig[] = [];
    for (const item of r.list(obj, "servers", path, { required: true }) ?? []) {
      const server = readUpstreamServer(r, item.value, item.path);
      if (server) servers.push(server);
    }
    const tlsRaw = r.section(obj, "tls", path, KEYS.upstreamTls);
    const tlsPath = [...path, "tls"];
    const serverName = r.get(tlsRaw, "server_name", tlsPath, asString);
    const ca = r.get(tlsRaw, "ca", tlsPath, asString);
    const tls: UpstreamTlsConfig = {
      ...(serverName !== undefined && { server_name: serverName }),
      verify: r.get(tlsRaw, "verify", tlsPath, asBoolean) ?? DEFAULTS.upstream.tls.verify,
    };
    if (ca !== undefined) tls.ca_file = r.pemFile([...tlsPath, "ca"], ca, (pem) => tls.ca = pem);
    groups.set(name, {
      name,
      balance: r.get(obj, "balance", path, asBalance) ?? DEFAULTS.upstream.balance,
      servers,
      tls,
      connect_timeout: r.get(obj, "connect_timeout", path, asDuration({ positive: true })) ??
        DEFAULTS.upstream.connect_timeout,
    });
  }
  return groups;
}

/** A string address, or { address, weight }. */
function readUpstreamServer(r: Reader, value: unknown, path: KeyPath): UpstreamServerConfig | undefined {
  if (typeof value === "string") return upstreamServer(r, value, path, DEFAULTS.server.weight);
  const obj = r.mapping(value, path, KEYS.upstreamServer);
  if (obj === undefined) return undefined;
  const address = r.need(obj, "address", path, asString);
  const weight = r.get(obj, "weight", path, asInteger(1)) ?? DEFAULTS.server.weight;
  return address === undefined ? undefined : upstreamServer(r, address, [...path, "address"], weight);
}

function upstreamServer(
  r: Reader,
  address: string,
  path: KeyPath,
  weight: number,
): UpstreamServerConfig | undefined {
  const parsed = parseUpstreamAddress(address);
  if (!("error" in parsed)) return { address, ...parsed, weight };
  r.report(path, parsed.error);
  return undefined;
}

const asRoutePath: Parse<Pick<RouteConfig, "path" | "match" | "exact">> = (value) => {
  const parsed = typeof value === "string" ? ROUTE_PATH.exec(value) : null;
  if (typeof value !== "string" || !parsed?.[2]) {
    return new Invalid(`must be "/prefix" or "= /exact" (starting with "/", no spaces)`);
  }
  return { path: value, match: parsed[2], exact: parsed[1] !== undefined };
};

const asBalance: Parse<"round_robin"> = (value) =>
  BALANCES.find((b) => b === value) ??
    new Invalid(`unsupported balance ${JSON.stringify(value)}; supported: ${BALANCES.join(", ")}`);
