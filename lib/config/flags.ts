/**
 * Ad-hoc command-line flags -> the same raw object a YAML file would give, so flag configs go
 * through exactly the same validation and messages as files. Pure.
 */
import { DEFAULTS } from "./schema.ts";

export interface CliFlags {
  listen: string[];
  upstream: string[];
  path?: string;
  tlsCert?: string;
  tlsKey?: string;
  idleTimeout?: string;
  logFormat?: string;
  /** `admin.listen`: where /healthz, /metrics and /status are served. */
  admin?: string;
  /** The group's `balance`: round_robin, least_conn, ip_hash or random. */
  balance?: string;
}

/** The upstream group every flag config routes to. */
const GROUP = "default";

/**
 * The raw config for ad-hoc flags: one server, one route, one upstream group named "default".
 * Missing --listen -> DEFAULTS.listen, missing --upstream -> DEFAULTS.upstreamAddress, path "/".
 * A lone --tls-cert or --tls-key is kept, so validation reports the missing half.
 */
export function rawConfigFromFlags(flags: CliFlags): Record<string, unknown> {
  const tls = flags.tlsCert === undefined && flags.tlsKey === undefined ? undefined : {
    ...(flags.tlsCert !== undefined && { cert: flags.tlsCert }),
    ...(flags.tlsKey !== undefined && { key: flags.tlsKey }),
  };
  const route = {
    path: flags.path ?? "/",
    upstream: GROUP,
    ...(flags.idleTimeout !== undefined && { idle_timeout: flags.idleTimeout }),
  };
  return {
    servers: [{
      listen: flags.listen.length > 0 ? [...flags.listen] : [DEFAULTS.listen],
      ...(tls && { tls }),
      routes: [route],
    }],
    upstreams: {
      [GROUP]: {
        servers: flags.upstream.length > 0 ? [...flags.upstream] : [DEFAULTS.upstreamAddress],
        ...(flags.balance !== undefined && { balance: flags.balance }),
      },
    },
    ...(flags.logFormat !== undefined && { log: { format: flags.logFormat } }),
    ...(flags.admin !== undefined && { admin: { listen: flags.admin } }),
  };
}

/** The built-in default: listen 0.0.0.0:8020, route / -> 127.0.0.1:8080. */
export function defaultRawConfig(): Record<string, unknown> {
  return rawConfigFromFlags({ listen: [], upstream: [] });
}

/** Config key paths that ad-hoc flags fill, and the flag to name in an error instead. */
const FLAG_FOR_PATH: [RegExp, string][] = [
  [/^servers\[0\]\.listen(\[\d+\])?/, "--listen"],
  [/^upstreams\.default\.servers(\[\d+\])?/, "--upstream"],
  [/^upstreams\.default\.balance/, "--balance"],
  [/^servers\[0\]\.routes\[0\]\.path/, "--path"],
  [/^servers\[0\]\.routes\[0\]\.idle_timeout/, "--idle-timeout"],
  [/^servers\[0\]\.tls\.cert/, "--tls-cert"],
  [/^servers\[0\]\.tls\.key/, "--tls-key"],
  [/^log\.format/, "--log-format"],
  [/^admin\.listen/, "--admin"],
];

/** "servers[0].listen[0]: missing port" -> "--listen: missing port": flag users never wrote the key path. */
export function flagError(error: string): string {
  const half = /^servers\[0\]\.tls: missing required key "(cert|key)"/.exec(error);
  if (half) return half[1] === "key" ? "--tls-cert needs --tls-key" : "--tls-key needs --tls-cert";
  for (const [path, flag] of FLAG_FOR_PATH) {
    const match = path.exec(error);
    if (match) return flag + error.slice(match[0].length);
  }
  return error;
}
