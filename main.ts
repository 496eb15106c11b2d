/**
 * wsgate command line: parse arguments -> load the configuration -> start the gateway;
 * signals; --help, --version and `check`. Everything else lives in lib/.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { loadRuntime } from "./lib/runtime/mod.ts";
import { loadConfigFile, loadConfigObject, type LoadResult } from "./lib/config/load.ts";
import { type CliFlags, defaultRawConfig, flagError, rawConfigFromFlags } from "./lib/config/flags.ts";
import { describeConfig } from "./lib/config/summary.ts";
import { createLogger, type Logger } from "./lib/observe/log.ts";
import { runApp } from "./lib/process/gateway.ts";
import { runSupervisor, WORKER_ADMIN_ENV, WORKER_ENV } from "./lib/process/supervisor.ts";
import { describeError, NetError } from "./lib/errors.ts";
import { VERSION } from "./lib/process/version.ts";
import { acmeStorageProblems } from "./lib/tls/acme/check.ts";
import type { Config } from "./lib/config/schema.ts";
import type { Runtime } from "./lib/runtime/types.ts";

const HELP = `wsgate ${VERSION} - WebSocket gateway: reverse proxy and load balancer for WebSockets

Examples:
  wsgate --listen :8020 --upstream 127.0.0.1:8080          ad-hoc tunnel, one line
  wsgate --listen :8443 --tls-cert cert.pem --tls-key key.pem --upstream 127.0.0.1:8080
  wsgate --upstream 127.0.0.1:8080 --upstream 127.0.0.1:8081   load-balanced (round robin)
  wsgate --listen unix:/run/app-ws.sock --upstream ws://127.0.0.1:3000
  wsgate --config /etc/wsgate.yaml                       production: see config.example.yaml
  wsgate check --config /etc/wsgate.yaml                 validate and show what would run

Usage:
  wsgate [--config FILE] [flags]    run (no --config and no route flags: ./wsgate.yaml if present,
                                    else the built-in default: listen 0.0.0.0:8020 -> 127.0.0.1:8080)
  wsgate check [--config FILE]      validate what a run would load; exit 0 (valid) or 1 (invalid)
  wsgate --help | --version

Flags (ad-hoc mode: one route to one upstream group, no config file; with --config, or with
./wsgate.yaml present, only --log-format and --admin are allowed, and they override the file's):
  -c, --config FILE         YAML configuration file
      --listen ADDR         address to listen on (repeatable): host:port, :port, [::1]:port, unix:/path
      --upstream ADDR       upstream server (repeatable, round robin): host:port, unix:/path,
                            ws://host:port, wss://host:port (TLS to the upstream)
      --balance POLICY      how several --upstream share connections: round_robin (default),
                            least_conn (best for long-lived WebSockets), ip_hash or random
      --path PREFIX         only proxy this path prefix (default /; others get 404)
      --tls-cert FILE       serve TLS with this PEM certificate ...
      --tls-key FILE        ... and this PEM private key
      --idle-timeout DUR    close tunnels idle in both directions for this long (250ms, 30s, 5m, 2h, 1d)
      --log-format FORMAT   text (default) or json
      --admin ADDR          admin listener: /healthz, /metrics, /status, reload, drain (keep it local)
  -h, --help                this help
  -V, --version             print the version and runtime

Signals: SIGHUP reloads the configuration (open tunnels keep running untouched);
SIGTERM / SIGINT stop accepting and let open connections finish (up to shutdown_timeout,
default 30s); a second one exits at once.
`;

const OPTIONS = {
  config: { type: "string", short: "c" },
  listen: { type: "string", multiple: true },
  upstream: { type: "string", multiple: true },
  path: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "idle-timeout": { type: "string" },
  "log-format": { type: "string" },
  balance: { type: "string" },
  admin: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

function usageError(message: string): number {
  console.error(`wsgate: ${message}\nRun 'wsgate --help' for usage.`);
  return 2;
}

function flagsOf(values: Values): CliFlags | undefined {
  const flags: CliFlags = {
    listen: values.listen ?? [],
    upstream: values.upstream ?? [],
    ...(values.path !== undefined && { path: values.path }),
    ...(values["tls-cert"] !== undefined && { tlsCert: values["tls-cert"] }),
    ...(values["tls-key"] !== undefined && { tlsKey: values["tls-key"] }),
    ...(values["idle-timeout"] !== undefined && { idleTimeout: values["idle-timeout"] }),
    ...(values["log-format"] !== undefined && { logFormat: values["log-format"] }),
    ...(values.balance !== undefined && { balance: values.balance }),
    ...(values.admin !== undefined && { admin: values.admin }),
  };
  const given = flags.listen.length + flags.upstream.length + Object.keys(flags).length - 2;
  return given > 0 ? flags : undefined;
}

/** Flags that build the one ad-hoc route; a --config file cannot be combined with them. */
const ROUTE_FLAGS = ["listen", "upstream", "path", "tls-cert", "tls-key", "idle-timeout", "balance"] as const;

/** --config, else ./wsgate.yaml when present and no flag builds a route, else ad-hoc flags, else the
 * built-in default. --log-format and --admin also adjust a file's settings (on every reload too). */
async function loadConfig(runtime: Runtime, values: Values): Promise<LoadResult> {
  const read = (path: string) => runtime.readTextFile(path);
  const flags = flagsOf(values);
  const routeFlags = ROUTE_FLAGS.filter((name) => values[name] !== undefined).map((name) => `--${name}`);
  const file = values.config ?? (routeFlags.length === 0 ? await localConfig(runtime) : undefined);
  if (file !== undefined) {
    if (routeFlags.length > 0) {
      return {
        errors: [
          `--config cannot be combined with ${routeFlags.join(", ")}: those build an ad-hoc route ` +
          `(only --log-format and --admin adjust a config file)`,
        ],
      };
    }
    // A key this runtime cannot honour is refused like any invalid key (never silently ignored).
    const unsupported = runtime.noClientAuth ? { client_ca: runtime.noClientAuth } : {};
    const result = await loadConfigFile(file, read, { unsupported });
    return result.config && flags ? await adjustByFlags(result.config, flags, read) : result;
  }
  if (flags) return await loadFlagConfig(flags, read);
  return await loadConfigObject(defaultRawConfig(), {
    source: "built-in default",
    baseDir: ".",
    readTextFile: read,
  });
}

/** "wsgate.yaml" when the working directory has one. */
async function localConfig(runtime: Runtime): Promise<string | undefined> {
  try {
    await runtime.readTextFile(LOCAL_CONFIG);
    return LOCAL_CONFIG;
  } catch (err) {
    if (err instanceof NetError && err.code === "ENOENT") return undefined;
    throw err;
  }
}

const LOCAL_CONFIG = "wsgate.yaml";

async function loadFlagConfig(flags: CliFlags, read: (path: string) => Promise<string>): Promise<LoadResult> {
  const result = await loadConfigObject(rawConfigFromFlags(flags), {
    source: "command-line flags",
    baseDir: ".",
    readTextFile: read,
  });
  return { ...result, errors: result.errors.map(flagError) };
}

/** A file's config with --log-format / --admin applied, validated like ad-hoc flags. */
async function adjustByFlags(
  config: Config,
  flags: CliFlags,
  read: (path: string) => Promise<string>,
): Promise<LoadResult> {
  const checked = await loadFlagConfig(flags, read);
  if (!checked.config) return checked;
  const { log, admin } = checked.config;
  return {
    config: {
      ...config,
      ...(flags.logFormat !== undefined && { log: { ...config.log, format: log.format } }),
      // --admin moves the listener; the file's hosts and token still guard it.
      ...(admin && { admin: config.admin ? { ...config.admin, listen: admin.listen } : admin }),
    },
    errors: [],
  };
}

function printErrors(result: LoadResult): void {
  for (const error of result.errors) console.error(error);
}

/** Like nginx -t: validates what a run with the same arguments would load. */
async function check(runtime: Runtime, values: Values): Promise<number> {
  const result = await loadConfig(runtime, values);
  if (!result.config) {
    printErrors(result);
    console.error(
      `${values.config ?? "configuration"}: ${result.errors.length} problem(s); configuration NOT valid`,
    );
    return 1;
  }
  const storage = await acmeStorageProblems(result.config);
  if (storage.length > 0) {
    for (const problem of storage) console.error(`${result.config.source}: ${problem}`);
    console.error(
      `${values.config ?? "configuration"}: ${storage.length} problem(s); configuration NOT valid`,
    );
    return 1;
  }
  console.log(`${result.config.source}: configuration is valid`);
  for (const line of describeConfig(result.config)) console.log(line);
  return 0;
}

function logStartup(logger: Logger, runtime: Runtime, config: Config): void {
  logger.log("info", "start", { version: VERSION, runtime: runtime.description, config: config.source });
  if (config.source === "built-in default") {
    logger.log("info", "default_config", {
      note:
        "no --config, no flags and no ./wsgate.yaml: listening on 0.0.0.0:8020, forwarding / to 127.0.0.1:8080",
    });
  }
  for (const group of config.upstreams.values()) {
    if (group.hash_key && group.balance !== "hash") {
      logger.log("warn", "hash_key_unused", { upstream: group.name, balance: group.balance });
    }
    if (!group.tls.verify && [...group.servers, ...group.discovered].some((s) => s.tls)) {
      logger.log("warn", "tls_verify_off", {
        upstream: group.name,
        note: runtime.tlsSkipVerifyCaveat ?? "upstream certificates are not verified",
      });
    }
  }
}

/** One process, a worker of a supervisor, or the supervisor of `workers` processes. */
async function run(runtime: Runtime, config: Config, values: Values): Promise<number> {
  const reloadConfig = () => loadConfig(runtime, values);
  const worker = runtime.env(WORKER_ENV);
  if (worker !== undefined) {
    const logger = createLogger(config.log.format, { worker: Number(worker) });
    runtime.onInternalError((error) =>
      logger.log("error", "internal_error", { reason: describeError(error) })
    );
    const adminPath = runtime.env(WORKER_ADMIN_ENV)!;
    const code = await runApp(runtime, config, logger, {
      reloadConfig,
      reusePort: true,
      adminListen: { transport: "unix", path: adminPath },
      followAcme: true,
    });
    logger.flush();
    return code;
  }
  const logger = createLogger(config.log.format);
  // Last line of defence: a bug in one connection's handling must not end the process.
  runtime.onInternalError((error) => logger.log("error", "internal_error", { reason: describeError(error) }));
  logStartup(logger, runtime, config);
  const count = config.workers === "auto" ? runtime.cpuCount() : config.workers;
  const configFile = values.config ?? (config.source === LOCAL_CONFIG ? LOCAL_CONFIG : undefined);
  const code = count > 1
    ? await runSupervisor(runtime, config, logger, { count, args: runtime.args, reloadConfig, configFile })
    : await runApp(runtime, config, logger, {
      reloadConfig,
      ...(configFile !== undefined && { configFile }),
    });
  logger.flush();
  return code;
}

/** parseArgs's complaint in a line: an unknown flag gets the closest known one. */
function argumentProblem(err: unknown): string {
  const unknown = (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
    ? /'(-{1,2}[^']+)'/.exec((err as Error).message)?.[1]
    : undefined;
  if (unknown === undefined) return describeError(err);
  const known = Object.keys(OPTIONS).map((name) => `--${name}`);
  const closest = known
    .map((flag) => ({ flag, distance: editDistance(unknown, flag) }))
    .sort((a, b) => a.distance - b.distance)[0]!;
  const hint = closest.distance <= 3 ? ` (did you mean ${closest.flag}?)` : "";
  return `unknown flag ${unknown}${hint}`;
}

/** Levenshtein distance, for flag suggestions. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

async function main(): Promise<void> {
  const runtime: Runtime = await loadRuntime();
  // `deno task start` runs in the repository's folder and says where the user typed the command
  // in INIT_CWD: relative paths (--config, ./wsgate.yaml, certificates) mean that folder to the
  // user. Only then: a gateway started elsewhere (a test, a service) merely inherits INIT_CWD.
  const typedIn = runtime.env("INIT_CWD");
  const ownFolder = import.meta.url.startsWith("file:") ? new URL(".", import.meta.url).pathname : undefined;
  if (typedIn && ownFolder !== undefined && `${process.cwd()}/` === ownFolder) process.chdir(typedIn);
  let parsed;
  try {
    parsed = parseArgs({ args: runtime.args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    runtime.exit(usageError(argumentProblem(err)));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    runtime.exit(0);
  }
  if (values.version) {
    console.log(`wsgate ${VERSION} (${runtime.description})`);
    runtime.exit(0);
  }
  const [command, ...extra] = positionals;
  if (command === "check" && extra.length === 0) runtime.exit(await check(runtime, values));
  if (command !== undefined) {
    runtime.exit(usageError(`unknown command or argument "${positionals.join(" ")}"`));
  }
  const result = await loadConfig(runtime, values);
  if (!result.config) {
    printErrors(result);
    runtime.exit(1);
  }
  runtime.exit(await run(runtime, result.config, values));
}

if (import.meta.main) await main();
