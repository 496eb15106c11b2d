/**
 * Raw config (parsed YAML, or the object built from CLI flags) -> a validated `Config`. Pure:
 * files (PEM, the admin token) are only named here (`files`), load.ts reads them. Every problem
 * is collected with its key path, so one run shows them all; the first one never hides the rest.
 */
import { formatAddr, parseListenAddress } from "../net/address.ts";
import { ownAddresses } from "../net/own_address.ts";
import { readAdmin } from "./admin.ts";
import { isAcmeTls, readAcme } from "./acme.ts";
import { readUpstreams } from "./upstreams.ts";
import {
  checkProxyProtocolTrust,
  readLimits,
  readProxyProtocol,
  readRouteAccess,
  readTrustedProxies,
  ROUTE_ACCESS_KEYS,
} from "./admission.ts";
import { readCloseSpread, readWebSocket } from "./websocket.ts";
import { readClientAuth, readServerKeepAlive, SERVER_KEYS, SERVER_TLS_KEYS } from "./connections.ts";
import { readAuth } from "./auth.ts";
import {
  EDGE_ROUTE_KEYS,
  type EdgeContext,
  readAnswer,
  readHeaderRules,
  readRequestIdHeader,
  readRewrite,
} from "./edge.ts";
import {
  asBoolean,
  asDuration,
  asOneOf,
  asString,
  closest,
  type ConfigFile,
  type ConfigIssue,
  Invalid,
  isRecord,
  type KeyPath,
  type Parse,
  type Raw,
  Reader,
} from "./reader.ts";
import {
  type ClientAuthConfig,
  type Config,
  DEFAULTS,
  type LogConfig,
  type LogFormat,
  type RouteConfig,
  type ServerConfig,
  type TlsCertConfig,
} from "./schema.ts";

export type { ConfigFile, ConfigIssue, KeyPath };

const KEYS = {
  root: [
    "servers",
    "upstreams",
    "limits",
    "log",
    "shutdown_timeout",
    "close_spread",
    "admin",
    "workers",
    "trusted_proxies",
    "request_id_header",
    "watch_config",
  ],
  server: ["listen", "tls", "hosts", "routes", "proxy_protocol", ...SERVER_KEYS],
  cert: ["cert", "key", "hosts", ...SERVER_TLS_KEYS],
  route: [
    "path",
    "upstream",
    "websocket_only",
    "read_timeout",
    "send_timeout",
    "idle_timeout",
    ...ROUTE_ACCESS_KEYS,
    "websocket",
    ...EDGE_ROUTE_KEYS,
    "auth",
  ],
  log: ["format", "access"],
} as const;

const LOG_FORMATS = ["text", "json"] as const;
const HOST_PATTERN = /^(?:\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/i;
const ROUTE_PATH = /^(=\s*)?(\/\S*)$/;

/**
 * raw = the parsed YAML/JS value. Collects EVERY problem. baseDir resolves relative file paths
 * (tls cert/key, ca); `files` lists them for load.ts, even when there are issues, so unreadable
 * files are reported together with everything else.
 */
export function validateConfig(
  raw: unknown,
  options: { source: string; baseDir: string; unsupported?: Readonly<Record<string, string>> },
): { config?: Config; issues: ConfigIssue[]; files: ConfigFile[] } {
  const r = new Reader(options.baseDir, options.unsupported);
  const root = r.mapping(raw, [], KEYS.root);
  if (root === undefined) return { issues: r.issues, files: [] };
  const names = isRecord(root.upstreams) ? Object.keys(root.upstreams) : undefined;
  const request_id_header = readRequestIdHeader(r, root);
  const servers = readServers(r, root, names, { requestIdHeader: request_id_header });
  const admin = readAdmin(r, root);
  const upstreams = readUpstreams(r, root, ownAddresses({ servers, ...admin }, []));
  const limits = readLimits(r, root);
  const trusted_proxies = readTrustedProxies(r, root);
  checkProxyProtocolTrust(r, root, servers);
  const logRaw = r.section(root, "log", [], KEYS.log);
  const log: LogConfig = {
    format: r.get(logRaw, "format", ["log"], asOneOf<LogFormat>(LOG_FORMATS)) ?? DEFAULTS.log.format,
    access: r.get(logRaw, "access", ["log"], asBoolean) ?? DEFAULTS.log.access,
  };
  const shutdown_timeout = r.get(root, "shutdown_timeout", [], asDuration({ positive: false })) ??
    DEFAULTS.shutdown_timeout;
  const workers = r.get(root, "workers", [], asWorkers) ?? DEFAULTS.workers;
  const closeSpread = readCloseSpread(r, root, shutdown_timeout);
  const watch_config = r.get(root, "watch_config", [], asBoolean) ?? DEFAULTS.watch_config;
  if (r.issues.length > 0) return { issues: r.issues, files: r.files };
  return {
    config: {
      source: options.source,
      servers,
      upstreams,
      limits,
      log,
      shutdown_timeout,
      trusted_proxies,
      request_id_header,
      workers,
      watch_config,
      ...closeSpread,
      ...admin,
    },
    issues: [],
    files: r.files,
  };
}

/** `workers: N` (1 = a single process) or `auto` (one per CPU core). */
const asWorkers: Parse<number | "auto"> = (value) =>
  value === "auto" || (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 256)
    ? value
    : new Invalid('must be "auto" or an integer from 1 to 256');

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

function readServers(
  r: Reader,
  root: Raw,
  upstreamNames: string[] | undefined,
  edge: EdgeContext,
): ServerConfig[] {
  /** Listen address -> the first server using it, to catch TLS and plain HTTP (or PROXY and
   * none) on one socket. */
  const listeners = new Map<string, { server: number; tls: boolean; proxy: boolean; clientAuth: string }>();
  const servers: ServerConfig[] = [];
  for (const [server, { value, path }] of (r.list(root, "servers", [], { required: true }) ?? []).entries()) {
    const obj = r.mapping(value, path, KEYS.server);
    if (obj === undefined) continue;
    const acmeTls = isAcmeTls(obj.tls);
    const acme = acmeTls ? readAcme(r, obj.tls as Raw, path) : undefined;
    const { certs: tls, client_auth } = obj.tls === undefined || acmeTls ? {} : readCerts(r, obj, path);
    const proxy_protocol = readProxyProtocol(r, obj, path);
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
      } else if (first && first.clientAuth !== clientAuthKey(client_auth)) {
        r.report(
          item.path,
          `listen address "${key}" is also used by servers[${first.server}] with other client_ca/client_auth; both must set them alike`,
        );
      } else if (first && first.proxy !== proxy_protocol) {
        const other = `servers[${first.server}] ${first.proxy ? "with" : "without"} proxy_protocol`;
        r.report(item.path, `listen address "${key}" is also used by ${other}; both must set it alike`);
      } else if (!first && !(addr.transport === "tcp" && addr.port === 0)) {
        const clientAuth = clientAuthKey(client_auth);
        listeners.set(key, { server, tls: obj.tls !== undefined, proxy: proxy_protocol, clientAuth });
      }
    }
    const hosts = readHosts(r, obj, path);
    const routes = readRoutes(r, obj, path, upstreamNames, edge);
    servers.push({
      listen,
      ...(tls && { tls }),
      ...(acme && { acme }),
      ...(hosts && { hosts }),
      routes,
      proxy_protocol,
      ...readServerKeepAlive(r, obj, path),
      ...(client_auth && { client_auth }),
    });
  }
  return servers;
}

/** What must match between servers sharing a listener: one TLS socket asks one way. */
function clientAuthKey(auth: ClientAuthConfig | undefined): string {
  return auth ? `${auth.mode} ${auth.ca_file}` : "";
}

/** `tls:` is one { cert, key } or a list of { cert, key, hosts } for SNI. */
function readCerts(
  r: Reader,
  server: Raw,
  serverPath: KeyPath,
): { certs: TlsCertConfig[]; client_auth?: ClientAuthConfig } {
  const entries = Array.isArray(server.tls)
    ? r.list(server, "tls", serverPath, { required: false }) ?? []
    : [{ value: server.tls, path: [...serverPath, "tls"] }];
  const certs: TlsCertConfig[] = [];
  let defaultAt: KeyPath | undefined;
  const read: { value: Raw; path: KeyPath }[] = [];
  for (const entry of entries) {
    const obj = r.mapping(entry.value, entry.path, KEYS.cert);
    if (obj === undefined) continue;
    read.push({ value: obj, path: entry.path });
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
  const client_auth = readClientAuth(r, read);
  return { certs, ...(client_auth && { client_auth }) };
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
  edge: EdgeContext,
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
    const answer = readAnswer(r, route, path, edge);
    const upstream = r.get(route, "upstream", path, asString);
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
      ...readRouteAccess(r, route, path),
      ...readWebSocket(r, route, path),
      ...readRewrite(r, route, path),
      ...headerRules(r, route, path, edge),
      ...(answer && { answer }),
      ...readAuth(r, route, path),
    });
  }
  return routes;
}

function headerRules(
  r: Reader,
  route: Raw,
  path: KeyPath,
  edge: EdgeContext,
): Pick<RouteConfig, "request_headers" | "response_headers"> {
  const request = readHeaderRules(r, route, path, "request_headers", edge);
  const response = readHeaderRules(r, route, path, "response_headers", edge);
  return { ...(request && { request_headers: request }), ...(response && { response_headers: response }) };
}

const asRoutePath: Parse<Pick<RouteConfig, "path" | "match" | "exact">> = (value) => {
  const parsed = typeof value === "string" ? ROUTE_PATH.exec(value) : null;
  if (typeof value !== "string" || !parsed?.[2]) {
    return new Invalid(`must be "/prefix" or "= /exact" (starting with "/", no spaces)`);
  }
  return { path: value, match: parsed[2], exact: parsed[1] !== undefined };
};
