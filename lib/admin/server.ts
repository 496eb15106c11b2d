/**
 * The admin listener (`admin.listen`, loopback by default): health, metrics, status (page,
 * status.json, history.json for its charts), open tunnels (list, close), reload and drain. A tiny HTTP/1.1 server on the same runtime seam and strict parser as the data
 * path: one request per connection, answered and closed. guard.ts decides which requests are
 * refused before an endpoint runs; every refusal is one `admin_reject` log line.
 */
import { HeadParseError, NetError } from "../errors.ts";
import { formatAddr } from "../net/address.ts";
import { type Config, DEFAULTS } from "../config/schema.ts";
import { parseRequestHead, type RequestHead } from "../http/head.ts";
import { readHead } from "../http/read_head.ts";
import { reasonPhrase } from "../http/responses.ts";
import { type AdminPolicy, refusal } from "./guard.ts";
import { statusPage } from "./status_page.ts";
import { parseTunnelQuery, type TunnelQuery, type TunnelsJson } from "./tunnels.ts";
import type { HistoryJson } from "../observe/history.ts";
import type { Logger } from "../observe/log.ts";
import type { Conn, Listener } from "../runtime/types.ts";

/** What the admin endpoints act on: one gateway process, or the supervisor of several. */
export interface AdminController {
  /** False from the moment draining starts: load balancers in front stop sending. */
  healthy(): boolean;
  metricsText(): Promise<string>;
  /** The same counters as JSON, for a supervisor to merge across worker processes. */
  metricsJson(): Promise<unknown>;
  statusJson(): Promise<unknown>;
  /** The status page's charts: samples of the last 15 minutes. */
  historyJson(): Promise<HistoryJson>;
  tunnelsJson(query: TunnelQuery): Promise<TunnelsJson>;
  /** Ends an open tunnel (Close 1008 on tracked routes, TCP close otherwise); `admin` is who
   * asked, for the log. false when no open tunnel has that id. */
  closeTunnel(id: string, admin: string): Promise<boolean>;
  reload(): Promise<{ ok: boolean; errors: string[] }>;
  /** false when the group or server does not exist. */
  drain(group: string, address: string, drained: boolean): Promise<boolean>;
}

interface Reply {
  status: number;
  type: string;
  body: string;
  headers?: [string, string][];
}

/** Indented for people reading it with curl; `compact` for what only the page polls. */
const json = (status: number, value: unknown, compact = false): Reply => ({
  status,
  type: "application/json",
  body: JSON.stringify(value, null, compact ? undefined : 2) + "\n",
});
const text = (status: number, body: string, type = "text/plain; charset=utf-8"): Reply => ({
  status,
  type,
  body,
});

const isStatusPage = (method: string, path: string) =>
  method === "GET" && ["/status", "/"].includes(path.split("?")[0]!);
const statusPageReply = () => text(200, statusPage(), "text/html; charset=utf-8");

const DRAIN_PATH = /^\/upstreams\/([^/]+)\/servers\/([^/]+)\/(drain|undrain)$/;
const CLOSE_PATH = /^\/tunnels\/([^/]+)\/close$/;

/**
 * Routes one admin request; pure apart from the controller calls. `admin` names who asked, for
 * the log lines of what changes state (the client's address).
 */
export async function answerAdmin(
  method: string,
  path: string,
  controller: AdminController,
  admin = "unknown",
): Promise<Reply> {
  const [bare = "", search = ""] = path.split("?", 2);
  if (bare === "/healthz") {
    return controller.healthy() ? text(200, "ok\n") : text(503, "draining\n");
  }
  if (bare === "/metrics" && method === "GET") {
    return text(200, await controller.metricsText(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (bare === "/metrics.json" && method === "GET") return json(200, await controller.metricsJson());
  if (bare === "/status.json" && method === "GET") return json(200, await controller.statusJson());
  if (bare === "/history.json" && method === "GET") return json(200, await controller.historyJson(), true);
  if (bare === "/tunnels.json" && method === "GET") {
    return json(200, await controller.tunnelsJson(parseTunnelQuery(search)));
  }
  if (isStatusPage(method, path)) return statusPageReply();
  if (bare === "/reload") {
    if (method !== "POST") return text(405, "use POST\n");
    const result = await controller.reload();
    return json(result.ok ? 200 : 400, result);
  }
  const close = CLOSE_PATH.exec(bare);
  if (close) {
    if (method !== "POST") return text(405, "use POST\n");
    const id = decodeURIComponent(close[1]!);
    return await controller.closeTunnel(id, admin)
      ? json(200, { id, closed: true })
      : json(404, { error: "no such open tunnel" });
  }
  const drain = DRAIN_PATH.exec(bare);
  if (drain) {
    if (method !== "POST") return text(405, "use POST\n");
    const [, group, address, action] = drain;
    const found = await controller.drain(
      decodeURIComponent(group!),
      decodeURIComponent(address!),
      action === "drain",
    );
    return found
      ? json(200, { group: decodeURIComponent(group!), server: decodeURIComponent(address!), action })
      : json(
        404,
        { error: "no such upstream group or server" },
      );
  }
  return text(404, "not found\n");
}

const encoder = new TextEncoder();

export interface AdminOptions {
  logger: Logger;
  /** The running configuration, read per connection: a reload changes admin.hosts, the token
   * and handshake_timeout for the next request. */
  config(): Config;
  /** A worker's private socket, asked only by its supervisor, which has checked the token. */
  internal?: boolean;
}

/** Head size limits: admin requests are a line and a few headers. */
const MAX_HEAD = { maxBytes: 8192, maxLineBytes: 4096 };

async function serve(conn: Conn, controller: AdminController, options: AdminOptions): Promise<void> {
  const { admin, limits } = options.config();
  const token = options.internal ? undefined : admin?.token;
  const policy: AdminPolicy = {
    hosts: admin?.hosts ?? DEFAULTS.admin.hosts,
    unixSocket: conn.localAddr.transport === "unix",
    ...(token !== undefined && { token }),
  };
  // An admin client gets as long as a proxied one to send its request (readHead's timeout)
  // and to take the answer, so an idle or half-sent socket does not hold a slot forever.
  const reply = await answer(conn, controller, policy, limits.handshake_timeout, options);
  if (reply) await send(conn, reply, limits.handshake_timeout);
}

/** The reply to the connection's one request; undefined when the client left without asking. */
async function answer(
  conn: Conn,
  controller: AdminController,
  policy: AdminPolicy,
  timeoutMs: number,
  { logger, internal }: AdminOptions,
): Promise<Reply | undefined> {
  const reject = (status: number, reason: string, request?: RequestHead): Reply => {
    logger.log("warn", "admin_reject", {
      client: formatAddr(conn.remoteAddr),
      method: request?.method,
      path: request?.path,
      status,
      reason,
    });
    return text(status, `${reason}\n`);
  };
  let request: RequestHead;
  try {
    const head = await readHead(conn, { ...MAX_HEAD, timeoutMs });
    if (!head) return undefined;
    request = parseRequestHead(head.head);
  } catch (err) {
    if (err instanceof NetError && err.code === "ETIMEDOUT") {
      return reject(408, "request not complete in time");
    }
    return reject(err instanceof HeadParseError ? err.status : 400, (err as Error).message);
  }
  const refused = refusal(request, policy);
  if (!refused) {
    try {
      return await answerAdmin(request.method, request.path, controller, askedBy(conn, request, internal));
    } catch (err) {
      // e.g. a malformed %-escape in a drain path (URIError)
      return reject(400, (err as Error).message, request);
    }
  }
  const reply = reject(refused.status, refused.reason, request);
  if (refused.status !== 401) return reply;
  // The page holds no data: served with the 401, it asks for the token and sends it itself.
  const shown = isStatusPage(request.method, request.path) ? statusPageReply() : reply;
  return { ...shown, status: 401, headers: [["WWW-Authenticate", 'Bearer realm="wsgate-admin"']] };
}

/**
 * Who asked, for the log: the client's address; on a worker's private socket, the address its
 * supervisor passes on as ?admin= (the supervisor is the only one that can reach that socket).
 */
function askedBy(conn: Conn, request: RequestHead, internal: boolean | undefined): string {
  if (internal) {
    const query = request.path.split("?", 2)[1] ?? "";
    return new URLSearchParams(query).get("admin") ?? "supervisor";
  }
  return formatAddr(conn.remoteAddr);
}

/**
 * On every admin answer: no page may frame the status page (its Drain buttons would pass the
 * CSRF check, being clicked on the page itself), guess another type for an answer, or learn the
 * admin address from a Referer.
 */
const NOT_EMBEDDABLE = "X-Frame-Options: DENY\r\nContent-Security-Policy: frame-ancestors 'none'\r\n" +
  "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n";

async function send(conn: Conn, reply: Reply, timeoutMs: number): Promise<void> {
  const body = encoder.encode(reply.body);
  const extra = (reply.headers ?? []).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  const head = `HTTP/1.1 ${reply.status} ${reasonPhrase(reply.status)}\r\nContent-Type: ${reply.type}\r\n` +
    `Content-Length: ${body.length}\r\n${extra}${NOT_EMBEDDABLE}Cache-Control: no-store\r\nConnection: close\r\n\r\n`;
  const deadline = setTimeout(() => conn.close(), timeoutMs);
  try {
    await conn.write(encoder.encode(head));
    await conn.write(body);
    await conn.closeWrite();
  } catch {
    // the admin client went away, or did not read the answer in time
  } finally {
    clearTimeout(deadline);
  }
}

/** Serves admin requests until the listener closes. */
export async function runAdmin(
  listener: Listener,
  controller: AdminController,
  options: AdminOptions,
): Promise<void> {
  while (true) {
    let conn: Conn | null;
    try {
      conn = await listener.accept();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    if (conn === null) return;
    const accepted = conn;
    serve(accepted, controller, options).finally(() => accepted.close());
  }
}
