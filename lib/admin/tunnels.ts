/**
 * TUNNELS: the document behind GET /tunnels.json (pure). Rows are built only for the tunnels
 * shown: with a `limit`, the oldest or busiest are picked from the registry's live counters in
 * one pass, so a page polling a gateway with 100,000 idle tunnels does not copy them all.
 */
import type { WatchedTunnel } from "../tunnel/watchdog.ts";

export type TunnelSort = "oldest" | "busiest";

export interface TunnelQuery {
  sort: TunnelSort;
  /** At most this many rows (undefined = all). */
  limit?: number;
}

export interface TunnelRow {
  /** The access log's connection id; with workers "<worker>-<id>", the log's worker= and id=. */
  id: string;
  client: string;
  route: string;
  /** The upstream group's name. */
  upstream: string;
  /** The upstream server's address. */
  server: string;
  /** ISO 8601: when the connection was accepted. */
  started: string;
  bytes_up: number;
  bytes_down: number;
  /** Only on routes with websocket.track_frames. */
  messages_up?: number;
  messages_down?: number;
}

export interface TunnelsJson {
  /** ISO 8601, the gateway's clock: ages on the page do not depend on the browser's. */
  now: string;
  /** Open tunnels in all (rows may be fewer, see limit). */
  total: number;
  sort: TunnelSort;
  tunnels: TunnelRow[];
}

/** GET /tunnels.json?sort=oldest|busiest&limit=N; anything else is the default. */
export function parseTunnelQuery(search: string): TunnelQuery {
  const params = new URLSearchParams(search);
  const sort: TunnelSort = params.get("sort") === "busiest" ? "busiest" : "oldest";
  const limit = Number(params.get("limit") ?? NaN);
  return Number.isInteger(limit) && limit >= 0 ? { sort, limit } : { sort };
}

export function tunnelQueryString(query: TunnelQuery): string {
  return `?sort=${query.sort}` + (query.limit === undefined ? "" : `&limit=${query.limit}`);
}

/** What the order is decided by: ms of the start, bytes both ways, id for ties. */
interface OrderKey {
  started: number;
  bytes: number;
  id: string;
}

function before(a: OrderKey, b: OrderKey, sort: TunnelSort): boolean {
  if (sort === "busiest" && a.bytes !== b.bytes) return a.bytes > b.bytes;
  if (a.started !== b.started) return a.started < b.started;
  return a.id.length !== b.id.length ? a.id.length < b.id.length : a.id < b.id;
}

/**
 * The first `limit` items in `sort` order, in that order: one pass, keeping a sorted short list
 * (an item that is not ahead of the last kept one costs one comparison).
 */
export function pickFirst<T>(
  items: Iterable<T>,
  key: (item: T) => OrderKey,
  query: TunnelQuery,
): { picked: T[]; total: number } {
  const limit = query.limit ?? Infinity;
  const kept: { item: T; key: OrderKey }[] = [];
  let total = 0;
  for (const item of items) {
    total++;
    if (limit === 0) continue;
    const k = key(item);
    if (kept.length >= limit && !before(k, kept[kept.length - 1]!.key, query.sort)) continue;
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(k, kept[mid]!.key, query.sort)) hi = mid;
      else lo = mid + 1;
    }
    kept.splice(lo, 0, { item, key: k });
    if (kept.length > limit) kept.pop();
  }
  return { picked: kept.map((k) => k.item), total };
}

/** One open tunnel as a row; undefined for a tunnel without an owner (not from a connection). */
export function tunnelRow(tunnel: WatchedTunnel): TunnelRow | undefined {
  const owner = tunnel.owner;
  if (!owner) return undefined;
  const row: TunnelRow = {
    id: String(owner.id),
    ...owner.describe(),
    started: new Date(owner.started).toISOString(),
    bytes_up: tunnel.up.bytes,
    bytes_down: tunnel.down.bytes,
  };
  const messages = tunnel.messages?.();
  if (messages) Object.assign(row, { messages_up: messages.up, messages_down: messages.down });
  return row;
}

/** GET /tunnels.json of one process, from the watchdog's registry. */
export function listTunnels(open: Iterable<WatchedTunnel>, query: TunnelQuery, now: number): TunnelsJson {
  const owned = (function* () {
    for (const tunnel of open) if (tunnel.owner) yield tunnel;
  })();
  const { picked, total } = pickFirst(owned, (t) => ({
    started: t.owner!.started,
    bytes: t.up.bytes + t.down.bytes,
    id: String(t.owner!.id),
  }), query);
  return {
    now: new Date(now).toISOString(),
    total,
    sort: query.sort,
    tunnels: picked.map((t) => tunnelRow(t)!),
  };
}

/** The workers' lists as one: ids prefixed with the worker index, then sorted and cut again. */
export function mergeTunnelLists(
  lists: readonly { worker: number; list: TunnelsJson }[],
  query: TunnelQuery,
  now: number,
): TunnelsJson {
  const rows = lists.flatMap(({ worker, list }) =>
    list.tunnels.map((row) => ({ ...row, id: `${worker}-${row.id}` }))
  );
  const { picked } = pickFirst(rows, (row) => ({
    started: Date.parse(row.started),
    bytes: row.bytes_up + row.bytes_down,
    id: row.id,
  }), query);
  return {
    now: new Date(now).toISOString(),
    total: lists.reduce((sum, { list }) => sum + list.total, 0),
    sort: query.sort,
    tunnels: picked,
  };
}

/** "<worker>-<id>" -> its parts; undefined for anything else. */
export function splitWorkerTunnelId(id: string): { worker: number; id: string } | undefined {
  const match = /^(\d+)-(\d+)$/.exec(id);
  return match ? { worker: Number(match[1]), id: match[2]! } : undefined;
}

/** A single process's tunnel id: the connection id, digits only. */
export function parseTunnelId(id: string): number | undefined {
  return /^\d{1,15}$/.test(id) ? Number(id) : undefined;
}
