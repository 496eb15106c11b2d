/**
 * `workers: N`: N processes of this same program share every listening port (SO_REUSEPORT), so
 * the kernel spreads connections over them. The supervisor holds no data sockets: it restarts a
 * worker that dies (with backoff) without touching the others, passes reload and shutdown on
 * to every worker, and serves the admin listener with their metrics summed, their histories
 * added sample by sample, and their open tunnels in one list (ids "<worker>-<id>", so a close
 * goes to the worker that holds the tunnel).
 */
import { describeError } from "../errors.ts";
import { formatAddr } from "../net/address.ts";
import { mergeSnapshots, type MetricsSnapshot, renderPrometheus } from "../observe/metrics.ts";
import { type AdminController, runAdmin } from "../admin/server.ts";
import { adminRequest } from "../admin/client.ts";
import { onStopSignals } from "./stop_signals.ts";
import { watchConfigFile } from "./config_watch.ts";
import { ProcessAcme } from "./acme.ts";
import { mergeStatuses, type StatusJson } from "../admin/status.ts";
import {
  mergeTunnelLists,
  splitWorkerTunnelId,
  tunnelQueryString,
  type TunnelsJson,
} from "../admin/tunnels.ts";
import { type HistoryJson, mergeHistories } from "../observe/history.ts";
import type { LoadResult } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../observe/log.ts";
import type { Addr, ChildProcess, Runtime } from "../runtime/types.ts";

/** Environment variables that turn a started copy of wsgate into worker N. */
export const WORKER_ENV = "WSGATE_WORKER";
export const WORKER_ADMIN_ENV = "WSGATE_WORKER_ADMIN";

const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** A worker that stayed up this long starts the backoff over after its next crash. */
const STABLE_MS = 60_000;

interface Worker {
  index: number;
  admin: Addr;
  child: ChildProcess;
  startedAt: number;
  backoff: number;
}

export interface SupervisorOptions {
  count: number;
  /** The command-line arguments the workers get (the same as ours). */
  args: string[];
  reloadConfig: () => Promise<LoadResult>;
  /** Watched when the config says `watch_config` (the workers do not watch it themselves). */
  configFile?: string | undefined;
}

/** Resolves once each worker's admin socket answered (it listens by then), or after a minute. */
async function everyWorkerAnswers(
  workers: () => Worker[],
  ask: (worker: Worker) => Promise<unknown>,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const answers = await Promise.all(workers().map(ask));
    if (answers.every((answer) => answer !== undefined)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function runSupervisor(
  runtime: Runtime,
  config: Config,
  logger: Logger,
  options: SupervisorOptions,
): Promise<number> {
  // The one process that obtains and renews ACME certificates; the workers serve what it stores
  // and answer the challenges it writes there (any of them may get the CA's request).
  const workersUp = Promise.withResolvers<void>();
  const acme = new ProcessAcme({
    logger,
    role: "order",
    shareChallenges: true,
    listening: workersUp.promise,
  });
  try {
    await acme.update(config);
  } catch (err) {
    logger.log("error", "acme_storage_failed", { reason: describeError(err) });
    return 1;
  }
  const reloadConfig = acme.reloading(options.reloadConfig);
  const tag = crypto.randomUUID().slice(0, 8);
  const tmp = runtime.env("TMPDIR") ?? "/tmp";
  const workers: Worker[] = [];
  let stopping = false;
  /** The last valid config: its admin section guards the supervisor's admin listener. */
  let current = config;

  const spawn = (index: number, backoff: number): Worker => {
    const admin: Addr = { transport: "unix", path: `${tmp}/wsgate-${tag}-worker-${index}.sock` };
    const child = runtime.spawnSelf(options.args, {
      [WORKER_ENV]: String(index),
      [WORKER_ADMIN_ENV]: admin.path,
    });
    const worker = { index, admin, child, startedAt: Date.now(), backoff };
    logger.log("info", "worker_started", { worker: index, pid: child.pid });
    child.exited.then((code) => onExit(worker, code));
    return worker;
  };

  const onExit = async (worker: Worker, code: number) => {
    if (stopping) return;
    const stable = Date.now() - worker.startedAt > STABLE_MS;
    const delay = stable ? BACKOFF_MIN_MS : worker.backoff;
    logger.log("error", "worker_exited", {
      worker: worker.index,
      pid: worker.child.pid,
      code,
      restart_in_ms: delay,
    });
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (stopping) return;
    workers[worker.index] = spawn(worker.index, Math.min(delay * 2, BACKOFF_MAX_MS));
  };

  const ask = (w: Worker, method: "GET" | "POST", path: string) =>
    adminRequest(runtime, w.admin, { method, path }).catch((err) => {
      logger.log("warn", "worker_unreachable", { worker: w.index, reason: describeError(err) });
      return undefined;
    });

  /** Every worker's answer that came, each with the worker's index. */
  const askEach = async (method: "GET" | "POST", path: string) => {
    const answers = await Promise.all(
      workers.map(async (w) => ({ worker: w.index, answer: await ask(w, method, path) })),
    );
    return answers.flatMap(({ worker, answer }) => answer ? [{ worker, answer }] : []);
  };

  const askAll = async (method: "GET" | "POST", path: string) =>
    (await askEach(method, path)).map(({ answer }) => answer);

  const merged = async (): Promise<MetricsSnapshot> => {
    const snapshots = (await askAll("GET", "/metrics.json")).map((a) =>
      JSON.parse(a.body) as MetricsSnapshot
    );
    const snapshot = mergeSnapshots(snapshots);
    snapshot.gauges.push({ name: "wsgate_workers", labels: {}, value: workers.length });
    return snapshot;
  };

  const controller: AdminController = {
    healthy: () => !stopping,
    metricsText: async () => renderPrometheus(await merged()),
    metricsJson: merged,
    statusJson: async () => {
      const [answers, metrics] = await Promise.all([askAll("GET", "/status.json"), merged()]);
      const statuses = answers.map((a) => JSON.parse(a.body) as StatusJson);
      return mergeStatuses(statuses, { draining: stopping, workers: workers.length }, metrics);
    },
    historyJson: async () =>
      mergeHistories((await askAll("GET", "/history.json")).map((a) => JSON.parse(a.body) as HistoryJson)),
    tunnelsJson: async (query) => {
      const lists = (await askEach("GET", `/tunnels.json${tunnelQueryString(query)}`)).map((
        { worker, answer },
      ) => ({
        worker,
        list: JSON.parse(answer.body) as TunnelsJson,
      }));
      return mergeTunnelLists(lists, query, Date.now());
    },
    closeTunnel: async (id, admin) => {
      const target = splitWorkerTunnelId(id);
      const worker = target && workers[target.worker];
      if (!worker) return false;
      // The worker logs the close with the admin's address, beside the tunnel's access record.
      const answer = await ask(
        worker,
        "POST",
        `/tunnels/${target.id}/close?admin=${encodeURIComponent(admin)}`,
      );
      return answer?.status === 200;
    },
    reload: async () => {
      // Validate once here, so a bad file is reported once and no worker is disturbed.
      const result = await reloadConfig();
      if (!result.config) {
        logger.log("error", "reload_failed", {
          errors: result.errors.length,
          note: "workers keep the previous config",
        });
        for (const error of result.errors) logger.log("error", "config_error", { error });
        return { ok: false, errors: result.errors };
      }
      current = result.config;
      const answers = await askAll("POST", "/reload");
      const ok = answers.length === workers.length && answers.every((a) => a.status === 200);
      return { ok, errors: ok ? [] : ["not every worker reloaded; see the log"] };
    },
    drain: async (group, address, drained) => {
      const path = `/upstreams/${encodeURIComponent(group)}/servers/${encodeURIComponent(address)}/` +
        (drained ? "drain" : "undrain");
      return (await askAll("POST", path)).some((a) => a.status === 200);
    },
  };

  onStopSignals(runtime, {
    drain: async (signal) => {
      stopping = true;
      logger.log("info", "shutdown", { signal, workers: workers.length });
      // Each worker says how many connections it drains, and until when.
      for (const worker of workers) worker.child.kill("SIGTERM");
      await Promise.all(workers.map((w) => w.child.exited));
      logger.log("info", "stopped", {});
      logger.flush();
      runtime.exit(0);
    },
    exitNow: (signal) => {
      logger.log("warn", "exit_now", { signal });
      logger.flush();
      for (const worker of workers) worker.child.kill("SIGKILL");
      runtime.exit(1);
    },
  });
  runtime.onSignal("SIGHUP", () => void controller.reload());
  if (options.configFile !== undefined) {
    await watchConfigFile(options.configFile, {
      readTextFile: (path) => runtime.readTextFile(path),
      logger,
      enabled: () => current.watch_config,
      reload: () => controller.reload(),
    });
  }

  for (let index = 0; index < options.count; index++) workers.push(spawn(index, BACKOFF_MIN_MS));
  if (config.admin) {
    try {
      const listener = await runtime.listen({ addr: config.admin.listen });
      logger.log("info", "admin_listening", { addr: formatAddr(listener.addr) });
      runAdmin(listener, controller, { logger, config: () => current });
    } catch (err) {
      logger.log("error", "listen_failed", {
        addr: formatAddr(config.admin.listen),
        reason: describeError(err),
      });
    }
  }
  logger.log("info", "supervisor_ready", { workers: options.count });
  // The CA's HTTP-01 request may reach any worker: order once every one listens.
  const quietly = (w: Worker) =>
    adminRequest(runtime, w.admin, { method: "GET", path: "/healthz" }).catch(() => {});
  void everyWorkerAnswers(() => workers, quietly).then(workersUp.resolve);
  return await new Promise<number>(() => {});
}
