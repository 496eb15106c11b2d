/**
 * wsgate's pure handshake steps, for the Bun floor's `steps` variant (target floor-bun-steps): the
 * floor's callbacks with wsgate's own modules doing wsgate's work in them, on the same inputs.
 * That is what a handshake written as one callback state machine on Bun's socket API would cost
 * with every step kept (parse and validate the head, route, pick, rebuild, check the 101, two log
 * lines, the metrics). The distance from here to wsgate-bin is what the promise-per-step pipeline
 * and the runtime seam cost; from floor-bun to here, the steps themselves (bench/RESULTS.md).
 * Both floors take it (floor-bun-steps, floor-deno-steps). Benchmark code, not product code.
 */
import { loadConfigObject } from "../../lib/config/load.ts";
import { parseRequestHead, parseResponseHead, type RequestHead } from "../../lib/http/head.ts";
import { checkUpgradeRequest, isWebSocketUpgrade } from "../../lib/http/upgrade.ts";
import { offeredProtocols, rebuildRequest } from "../../lib/http/rebuild.ts";
import { findHeadEnd } from "../../lib/http/read_head.ts";
import { requestIdFor } from "../../lib/http/request_id.ts";
import { routeRequest } from "../../lib/route.ts";
import { matchesAny } from "../../lib/net/cidr.ts";
import { formatAddr } from "../../lib/net/address.ts";
import { concat } from "../../lib/net/bytes.ts";
import { redactPath } from "../../lib/admit/auth/token.ts";
import { checkFinalAnswer } from "../../lib/upstream/answer.ts";
import { createUpstreamGroups } from "../../lib/upstream/group.ts";
import type { Lease } from "../../lib/upstream/group.ts";
import { pickContext } from "../../lib/balance/hash_key.ts";
import { createLogger } from "../../lib/observe/log.ts";
import { Metrics } from "../../lib/observe/metrics.ts";
import type { RouteConfig } from "../../lib/config/schema.ts";

/** One handshake's state between the floor's callbacks. */
export interface Handshake {
  id: number;
  started: number;
  client: string;
  head: RequestHead;
  key: string;
  path: string;
  requestId: string;
  route: RouteConfig;
  lease: Lease;
  upBytes: number;
  downBytes: number;
}

export interface Steps {
  /** The client's complete head (and what followed it): the rebuilt head (and what followed it)
   * to send, and the state. */
  request(
    bytes: Uint8Array,
    remote: { address: string; port: number },
  ): { rebuilt: Uint8Array; state: Handshake };
  /** The backend's first chunk, a whole 101 here: checked, logged, counted. */
  answer(chunk: Uint8Array, state: Handshake): void;
  /** Both sides closed: the access record, the lease back, the counters. */
  closed(state: Handshake): void;
}

/** The steps for a gateway with wsgate's default settings and one route to 127.0.0.1:`backendPort`. */
export async function createSteps(backendPort: number): Promise<Steps> {
  const server = `127.0.0.1:${backendPort}`;
  const loaded = await loadConfigObject({
    servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers: [server] } },
  }, { source: "bench", baseDir: ".", readTextFile: () => Promise.reject(new Error("no files")) });
  if (!loaded.config) throw new Error(`steps config: ${loaded.errors.join("; ")}`);
  const config = loaded.config;
  const group = createUpstreamGroups(config).get("app")!;
  const logger = createLogger(config.log.format);
  const metrics = new Metrics();
  const { limits } = config;
  const noNames = new Set<string>();
  let ids = 0;
  return {
    request(bytes, remote) {
      const started = Date.now();
      const addr = { transport: "tcp" as const, hostname: remote.address, port: remote.port };
      const end = findHeadEnd(bytes, 0);
      const head = parseRequestHead(bytes.slice(0, end), {
        maxHeaders: limits.max_headers,
        maxRequestLine: limits.max_request_line,
      });
      const trusted = matchesAny(config.trusted_proxies, remote.address);
      const requestId = requestIdFor(head.headers, config.request_id_header, trusted);
      const key = isWebSocketUpgrade(head) ? checkUpgradeRequest(head).key : "";
      const route = routeRequest(config.servers, head);
      const pick = pickContext(group.config.hash_key, {
        headers: head.headers,
        path: head.path,
        remote: addr,
      });
      const { lease } = group.acquire(new Set(), pick);
      if (!lease) throw new Error("no server");
      const reissued = rebuildRequest(head, {
        clientIp: remote.address,
        websocket: true,
        tls: false,
        trustForwarded: trusted,
        requestIdHeader: config.request_id_header,
        requestId,
      });
      const path = redactPath(head.path, noNames);
      const state = {
        id: ++ids,
        started,
        client: formatAddr(addr),
        head,
        key,
        path,
        requestId,
        route,
        lease,
      };
      const rebuilt = concat(reissued, bytes.subarray(end));
      return { rebuilt, state: { ...state, upBytes: bytes.length - end, downBytes: 0 } };
    },
    answer(chunk, state) {
      const end = findHeadEnd(chunk, 0);
      const response = parseResponseHead(chunk.slice(0, end), { maxHeaders: limits.max_headers });
      const expect = { upgrade: { key: state.key, offeredProtocols: offeredProtocols(state.head) } };
      checkFinalAnswer({ response, head: chunk, rest: chunk.subarray(end) }, expect, server);
      const { route } = state;
      logger.log("info", "tunnel_open", {
        id: state.id,
        request_id: state.requestId || undefined,
        client: state.client,
        route: route.path,
        upstream: server,
      });
      const seconds = (Date.now() - state.started) / 1000;
      metrics.handshake("tunnel", 101, seconds, { route: route.path, upstream: route.upstream, server });
      metrics.tunnelOpened(route.path, route.upstream, server);
    },
    closed(state) {
      state.lease.release();
      const { route } = state;
      const duration = Date.now() - state.started;
      metrics.tunnelClosed(route.path, route.upstream, server, duration / 1000);
      metrics.bytes("up", state.upBytes);
      metrics.bytes("down", state.downBytes);
      logger.log("info", "access", {
        id: state.id,
        client: state.client,
        method: state.head.method,
        path: state.path,
        request_id: state.requestId || undefined,
        route: route.path,
        upstream: server,
        status: 101,
        up_bytes: state.upBytes,
        down_bytes: state.downBytes,
        duration_ms: duration,
        closed_by: "client",
      });
    },
  };
}
