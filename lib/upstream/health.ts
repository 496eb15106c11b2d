/**
 * Active health checks of upstream servers (nginx Plus `health_check`, HAProxy `check rise fall`).
 * Every `interval`, each server of a group that has `health_check` (and is not `down`) gets one
 * probe, bounded by `timeout`:
 * - tcp: connect (and the TLS handshake for wss:// servers);
 * - http: `GET path` answered with an expected status (default any 2xx or 3xx);
 * - websocket: a real handshake to `path`, a 101 with the right Sec-WebSocket-Accept, then a
 *   clean close (our close frame, the server's close or EOF).
 * `fall` failures in a row mark a server unhealthy: it gets no new connections, but tunnels already
 * open on it are never cut by a verdict. `rise` passes in a row make it healthy again. Each change
 * is logged once.
 */
import { randomBytes } from "node:crypto";
import { describeError, isOwnFailure } from "../errors.ts";
import { dialUpstream } from "./dial.ts";
import { readHead } from "../http/read_head.ts";
import { parseResponseHead, serializeRequestHead } from "../http/head.ts";
import type { Header } from "../http/headers.ts";
import { checkUpgradeResponse } from "../http/upgrade.ts";
import { formatAddr } from "../net/address.ts";
import { VERSION } from "../process/version.ts";
import { encodeLocalProxyHeader } from "../net/proxy_protocol.ts";
import { CloseCode, closePayload, encodeControl, hasCloseFrame, Opcode } from "../net/ws_frames.ts";
import type { HealthCheckConfig, UpstreamConfig, UpstreamServerConfig } from "../config/schema.ts";
import type { Logger } from "../observe/log.ts";
import type { Conn, Net } from "../runtime/types.ts";
import type { ServerRecord, ServerState, UpstreamGroup } from "./group.ts";
import { sleep } from "./sleep.ts";

/** Probe results -> verdict, with hysteresis so one lost probe does not flap a server. */
export class HealthVerdict {
  #healthy: boolean;
  #streak = 0;
  #rise: number;
  #fall: number;

  /** A server starts healthy (nginx without `mandatory`), unless a reload carries over its verdict. */
  constructor(options: { rise: number; fall: number; healthy: boolean }) {
    this.#rise = options.rise;
    this.#fall = options.fall;
    this.#healthy = options.healthy;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  /** Records one probe; true when this one changed the verdict. */
  record(passed: boolean): boolean {
    if (passed === this.#healthy) {
      this.#streak = 0;
      return false;
    }
    if (++this.#streak < (passed ? this.#rise : this.#fall)) return false;
    this.#healthy = passed;
    this.#streak = 0;
    return true;
  }
}

/** Probes the servers of every group that has `health_check`, until stop(). */
export class HealthChecks {
  #net: Net;
  #logger: Logger;
  #stopped = new AbortController();
  /** One probe loop per server address being checked; verdicts live in the records, so a reload
   * (new HealthChecks) neither forgets a dead server nor distrusts a live one. */
  #watching = new Map<ServerRecord, { stop: AbortController; done: Promise<void> }>();

  constructor(net: Net, options: { logger: Logger }) {
    this.#net = net;
    this.#logger = options.logger;
  }

  /** Checks the servers `groups` place connections on now: starts the new ones, ends those gone. */
  sync(groups: ReadonlyMap<string, UpstreamGroup>): void {
    if (this.#stopped.signal.aborted) return;
    const listed = new Set<ServerRecord>();
    for (const group of groups.values()) {
      const check = group.config.health_check;
      for (const server of group.servers) {
        // Without checks (now), a server is as healthy as its connections say.
        if (!check) server.healthy = true;
        if (!check || server.config.down) continue;
        listed.add(server.record);
        if (this.#watching.has(server.record)) continue;
        const stop = new AbortController();
        const verdict = new HealthVerdict({ rise: check.rise, fall: check.fall, healthy: server.healthy });
        const done = this.#watch(
          group.config,
          server,
          verdict,
          AbortSignal.any([stop.signal, this.#stopped.signal]),
        );
        this.#watching.set(server.record, { stop, done });
      }
    }
    for (const [record, watch] of this.#watching) {
      if (listed.has(record)) continue;
      watch.stop.abort();
      this.#watching.delete(record);
    }
  }

  /** Ends every check; a probe in flight is abandoned and its connection closed. Resolves once all have ended. */
  async stop(): Promise<void> {
    this.#stopped.abort();
    await Promise.all([...this.#watching.values()].map((w) => w.done));
  }

  async #watch(
    group: UpstreamConfig,
    server: ServerState,
    verdict: HealthVerdict,
    signal: AbortSignal,
  ): Promise<void> {
    const check = group.health_check!;
    while (!signal.aborted) {
      const started = Date.now();
      const problem = await probe(this.#net, { group, server: server.config, signal });
      if (signal.aborted) return;
      // Out of descriptors is the gateway's trouble, not the server's: no verdict either way.
      if (problem !== NO_VERDICT && verdict.record(problem === undefined)) {
        server.healthy = verdict.healthy;
        this.#logger.log("info", "upstream_health", {
          upstream: group.name,
          server: server.address,
          healthy: verdict.healthy,
          reason: problem ?? `${check.rise} checks passed`,
        });
      }
      // Start to start, so a slow probe does not stretch the interval.
      await sleep(Math.max(0, check.interval - (Date.now() - started)), signal);
    }
  }
}

/** A probe that says nothing about the server: the gateway itself was out of descriptors or memory. */
export const NO_VERDICT = null;

/**
 * One probe of one server: undefined when it passed, else why not, or NO_VERDICT when the probe
 * failed for the gateway's own reasons. Never throws; gives up after the check's timeout or when
 * `signal` aborts.
 */
export async function probe(
  net: Net,
  options: { group: UpstreamConfig; server: UpstreamServerConfig; signal?: AbortSignal },
): Promise<string | undefined | typeof NO_VERDICT> {
  const { group, server } = options;
  const check = group.health_check!;
  let conn: Conn | undefined;
  let timedOut = false;
  const cancel = new AbortController();
  // Closing the connection is what ends a read in flight.
  const abort = () => {
    cancel.abort();
    conn?.close();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    abort();
  }, check.timeout);
  options.signal?.addEventListener("abort", abort);
  try {
    conn = await dialUpstream(net, server, group, { signal: cancel.signal });
    // A backend that expects PROXY headers gets one with every check too (HAProxy: check-send-proxy).
    if (group.send_proxy_protocol) await conn.write(encodeLocalProxyHeader(group.send_proxy_protocol));
    const problem = check.type === "tcp" ? undefined : await converse(conn, check, {
      server,
      timeoutMs: check.timeout,
    });
    // A read ended by the deadline looks like a close; say what really happened.
    return problem !== undefined && timedOut ? tooSlow(check) : problem;
  } catch (err) {
    if (isOwnFailure(err)) return NO_VERDICT;
    return timedOut ? tooSlow(check) : describeError(err);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", abort);
    conn?.close();
  }
}

const tooSlow = (check: HealthCheckConfig) => `no answer within ${check.timeout} ms`;

/** The http or websocket exchange on an open connection. */
async function converse(
  conn: Conn,
  check: HealthCheckConfig,
  options: { server: UpstreamServerConfig; timeoutMs: number },
): Promise<string | undefined> {
  const key = randomBytes(16).toString("base64");
  const upgrade: Header[] = [
    { name: "Upgrade", value: "websocket" },
    { name: "Connection", value: "Upgrade" },
    { name: "Sec-WebSocket-Key", value: key },
    { name: "Sec-WebSocket-Version", value: "13" },
  ];
  const headers: Header[] = [
    { name: "Host", value: hostHeader(options.server) },
    { name: "User-Agent", value: `wsgate/${VERSION} health-check` },
    ...(check.type === "websocket" ? upgrade : [{ name: "Connection", value: "close" }]),
  ];
  await conn.write(serializeRequestHead({ method: "GET", target: check.path, version: "HTTP/1.1", headers }));
  const answer = await readHead(conn, {
    maxBytes: 16_384,
    maxLineBytes: 8_192,
    timeoutMs: options.timeoutMs,
  });
  if (answer === null) return "closed the connection without answering";
  const response = parseResponseHead(answer.head);
  if (check.type === "http") {
    const expected = check.expect_status?.includes(response.status) ??
      (response.status >= 200 && response.status < 400);
    return expected ? undefined : `answered ${response.status}`;
  }
  const problem = checkUpgradeResponse(response, { key, offeredProtocols: [] });
  if (problem !== undefined) return problem;
  // The verdict is in: a server that is slow to close is still healthy.
  await closeCleanly(conn, answer.rest).catch(() => {});
  return undefined;
}

/** The Host of a check request: the address as configured ("localhost" over a unix socket). */
function hostHeader(server: UpstreamServerConfig): string {
  return server.addr.transport === "tcp" ? formatAddr(server.addr) : server.hostname;
}

/** A masked Close 1000 (RFC 6455 §5.5.1); a zero mask is allowed, as clients choose it. */
const CLOSE_FRAME = encodeControl(Opcode.close, closePayload(CloseCode.normal, ""), {
  maskKey: new Uint8Array(4),
});
/** A server sending more than this instead of closing is not waited for. */
const MAX_DRAIN_BYTES = 65_536;

/** Sends our close and waits for the server's (or EOF), so neither side logs an abnormal closure. */
async function closeCleanly(conn: Conn, received: Uint8Array): Promise<void> {
  await conn.write(CLOSE_FRAME);
  let pending = received.slice();
  while (pending.length <= MAX_DRAIN_BYTES && !hasCloseFrame(pending)) {
    const chunk = await conn.read();
    if (chunk === null) return;
    const grown = new Uint8Array(pending.length + chunk.length);
    grown.set(pending);
    grown.set(chunk, pending.length);
    pending = grown;
  }
}
