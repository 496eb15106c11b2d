/**
 * The admin listener (`admin.listen`, loopback by default): health, metrics, status, reload
 * and drain. A tiny HTTP/1.1 server on the same runtime seam and strict parser as the data
 * path: one request per connection, answered and closed.
 */
import { HeadParseError } from "../errors.ts";
import { parseRequestHead } from "../http/head.ts";
import { readHead } from "../read_head.ts";
import { reasonPhrase } from "../responses.ts";
import { statusPage } from "./status_page.ts";
import type { Conn, Listener } from "../runtime/types.ts";

/** What the admin endpoints act on: one gateway process, or the supervisor of several. */
export interface AdminController {
  /** False from the moment draining starts: load balancers in front stop sending. */
  healthy(): boolean;
  metricsText(): Promise<string>;
  /** The same counters as JSON, for a supervisor to merge across worker processes. */
  metricsJson(): Promise<unknown>;
  statusJson(): Promise<unknown>;
  reload(): Promise<{ ok: boolean; errors: string[] }>;
  /** false when the group or server does not exist. */
  drain(group: string, address: string, drained: boolean): Promise<boolean>;
}

interface Reply {
  status: number;
  type: string;
  body: string;
}

const json = (status: number, value: unknown): Reply => ({
  status,
  type: "application/json",
  body: JSON.stringify(value, null, 2) + "\n",
});
const text = (status: number, body: string, type = "text/plain; charset=utf-8"): Reply => ({
  status,
  type,
  body,
});

const DRAIN_PATH = /^\/upstreams\/([^/]+)\/servers\/([^/]+)\/(drain|undrain)$/;

/** Routes one admin request; pure apart from the controller calls. */
export async function answerAdmin(method: string, path: string, controller: AdminController): Promise<Reply> {
  const bare = path.split("?")[0]!;
  if (bare === "/healthz") {
    return controller.healthy() ? text(200, "ok\n") : text(503, "draining\n");
  }
  if (bare === "/metrics" && method === "GET") {
    return text(200, await controller.metricsText(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (bare === "/metrics.json" && method === "GET") return json(200, await controller.metricsJson());
  if (bare === "/status.json" && method === "GET") return json(200, await controller.statusJson());
  if ((bare === "/status" || bare === "/") && method === "GET") {
    return text(200, statusPage(), "text/html; charset=utf-8");
  }
  if (bare === "/reload") {
    if (method !== "POST") return text(405, "use POST\n");
    const result = await controller.reload();
    return json(result.ok ? 200 : 400, result);
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

async function serve(conn: Conn, controller: AdminController): Promise<void> {
  let reply: Reply;
  try {
    const head = await readHead(conn, { maxBytes: 8192, maxLineBytes: 4096, timeoutMs: 10_000 });
    if (!head) return;
    const request = parseRequestHead(head.head);
    reply = await answerAdmin(request.method, request.path, controller);
  } catch (err) {
    reply = text(err instanceof HeadParseError ? err.status : 400, `${(err as Error).message}\n`);
  }
  const body = encoder.encode(reply.body);
  const head = `HTTP/1.1 ${reply.status} ${reasonPhrase(reply.status)}\r\nContent-Type: ${reply.type}\r\n` +
    `Content-Length: ${body.length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`;
  try {
    await conn.write(encoder.encode(head));
    await conn.write(body);
    await conn.closeWrite();
  } catch {
    // the admin client went away
  }
}

/** Serves admin requests until the listener closes. */
export async function runAdmin(listener: Listener, controller: AdminController): Promise<void> {
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
    serve(accepted, controller).finally(() => accepted.close());
  }
}
