/**
 * Helpers for the load-balancing and health e2e tests: one handshake at a time, and which
 * backend a request reached (each test request gets a unique path, so this works concurrently).
 */
import type { Backend } from "./_backends.ts";
import { ByteReader, bytes, dial, parseResponseHead, upgradeRequest, writeAll } from "./_wire.ts";

/** An upgrade whose connection stays open after the answer's head: a tunnel held until close(). */
export interface HeldTunnel {
  /** The answer's status; 0 = the connection closed without an answer. */
  status: number;
  close(): Promise<void>;
}

export async function openTunnel(
  port: number,
  options: { path: string; headers?: [string, string][] },
): Promise<HeldTunnel> {
  const conn = await dial(port);
  const reader = new ByteReader(conn);
  try {
    await writeAll(conn, bytes(upgradeRequest(options)));
    const head = await reader.readHead(5_000);
    return { status: head === null ? 0 : parseResponseHead(head).status, close: () => reader.close() };
  } catch (err) {
    await reader.close();
    throw err;
  }
}

/** Upgrades, reads the answer's head and hangs up: the status. */
export async function handshake(
  port: number,
  options: { path: string; headers?: [string, string][] },
): Promise<number> {
  const tunnel = await openTunnel(port, options);
  await tunnel.close();
  return tunnel.status;
}

/** The index of the backend that received a request for `path`, or -1. */
export function backendOf(backends: readonly Backend[], path: string): number {
  return backends.findIndex((b) => b.requests.some((r) => r.url === path));
}

/** Upgrades to `path-0`, `path-1` ... with at most `parallel` in flight; the statuses in order. */
export async function handshakes(
  port: number,
  options: { count: number; parallel: number; path: (i: number) => string },
): Promise<number[]> {
  const statuses: number[] = [];
  for (let start = 0; start < options.count; start += options.parallel) {
    const batch = Array.from(
      { length: Math.min(options.parallel, options.count - start) },
      (_, i) => start + i,
    );
    statuses.push(...await Promise.all(batch.map((i) => handshake(port, { path: options.path(i) }))));
  }
  return statuses;
}

/** Runs `attempt` until it returns something (not undefined), pausing 20 ms between tries; throws after timeoutMs. */
export async function until<T>(
  attempt: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
