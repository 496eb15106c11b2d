/**
 * Tools for the hostile-input e2e tests: one-shot raw exchanges that report how the connection
 * ended, the checks every refused request must pass, PROXY protocol headers written and read here
 * independently of lib/net/proxy_protocol.ts, a backend that expects a PROXY header, connections
 * from other loopback addresses, and the gateway's open file descriptors.
 */
import assert from "node:assert/strict";
import net from "node:net";
import type { WsClient } from "./_clients.ts";
import {
  acceptFor,
  ByteReader,
  bytes,
  concat,
  type HttpResponse,
  parseResponse,
  serveEach,
  text,
  writeAll,
} from "./_wire.ts";
import { eventually, type Gateway } from "./_harness.ts";

/** The gateway's open file descriptors, from /proc/PID/fd. */
export function fdCount(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** Waits until the gateway holds no more descriptors than `baseline` (sockets close asynchronously). */
export async function fdsBackTo(gw: Gateway, baseline: number, timeoutMs = 5_000): Promise<void> {
  await eventually(
    () => fdCount(gw.pid) <= baseline,
    timeoutMs,
    `fds back to ${baseline} (${fdCount(gw.pid)})`,
  );
}

export interface Outcome {
  /** Everything received until the gateway closed (or the timeout). */
  raw: Uint8Array;
  /** The parsed answer, when there was one. */
  response?: HttpResponse;
  /** The gateway closed the connection (EOF or reset) within the timeout. */
  closed: boolean;
}

/**
 * Writes `data` (then FIN when `finish`), reads until the gateway closes or `timeoutMs`, or, with
 * `untilHead`, until a whole response head arrived (a 101 keeps the connection open).
 */
export async function exchange(
  port: number,
  data: string | Uint8Array,
  options: { finish?: boolean; timeoutMs?: number; hostname?: string; untilHead?: boolean } = {},
): Promise<Outcome> {
  const conn = await Deno.connect({ hostname: options.hostname ?? "127.0.0.1", port });
  const reader = new ByteReader(conn);
  try {
    await writeAll(conn, bytes(data)).catch(() => {});
    if (options.finish) await conn.closeWrite().catch(() => {});
    const deadline = Date.now() + (options.timeoutMs ?? 5_000);
    let closed = false;
    while (Date.now() < deadline) {
      if (options.untilHead && text(reader.buffered).includes("\r\n\r\n")) break;
      if (!await reader.fill(Math.max(1, deadline - Date.now())).catch(() => true)) {
        closed = true;
        break;
      }
    }
    const raw = reader.take(reader.buffered.length);
    let response: HttpResponse | undefined;
    try {
      response = parseResponse(raw);
    } catch { /* no complete answer */ }
    return { raw, closed, ...(response && { response }) };
  } finally {
    await reader.close();
  }
}

export interface RefusalChecks {
  /** Headers the answer must carry besides `Connection: close`, e.g. `Sec-WebSocket-Version` on a 426. */
  headers?: Record<string, string>;
  /** How many requests reached the backend so far: a refusal must not change it. */
  reached?: () => number;
  /** A tunnel open through the same gateway: it must still echo after the refusal. */
  bystander?: WsClient;
  timeoutMs?: number;
}

/**
 * Sends `request` on a fresh connection and checks a clean refusal: the answer is `status` with
 * `Connection: close` (and `checks.headers`), the gateway then closes the connection, exactly one
 * new `reject` line gives that status and a reason, nothing more reached the backend, and the
 * bystander tunnel is unharmed.
 */
export async function expectRefusal(
  gw: Gateway,
  request: string | Uint8Array,
  status: number,
  checks: RefusalChecks = {},
): Promise<Outcome> {
  const rejectsBefore = gw.records("reject").length;
  const reachedBefore = checks.reached?.();
  const outcome = await exchange(gw.port, request, { timeoutMs: checks.timeoutMs ?? 5_000 });
  const shown = JSON.stringify(text(outcome.raw.subarray(0, 200)));
  const response = outcome.response;
  assert.ok(response, `no answer: ${shown}`);
  assert.equal(response.status, status, shown);
  assert.equal(response.headers.get("connection")?.toLowerCase(), "close", shown);
  for (const [name, value] of Object.entries(checks.headers ?? {})) {
    assert.equal(response.headers.get(name), value, `${name} in ${shown}`);
  }
  assert.equal(outcome.closed, true, "the gateway closes the connection after the answer");
  assert.equal(checks.reached?.(), reachedBefore, "nothing reached the backend");
  await eventually(() => gw.records("reject").length > rejectsBefore, 3_000, "a reject line");
  const added = gw.records("reject").slice(rejectsBefore);
  assert.equal(added.length, 1, "exactly one reject line");
  assert.equal(added[0]!.fields.status, String(status));
  assert.ok(added[0]!.fields.reason, "the reject line gives a reason");
  if (checks.bystander) {
    const probe = `still open after refusal ${rejectsBefore}`;
    checks.bystander.send(probe);
    assert.equal(await checks.bystander.next(), probe, "the open tunnel still echoes");
  }
  return outcome;
}

// ---- PROXY protocol, written and read without lib/net/proxy_protocol.ts ----

export function proxyV1(source: string, dest: string, sourcePort = 40_000, destPort = 8_020): string {
  const family = source.includes(":") ? "TCP6" : "TCP4";
  return `PROXY ${family} ${source} ${dest} ${sourcePort} ${destPort}\r\n`;
}

const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function ipBytes(ip: string): number[] {
  if (!ip.includes(":")) return ip.split(".").map(Number);
  const [head = "", tail = ""] = ip.split("::");
  const groups = (s: string) => s === "" ? [] : s.split(":").map((g) => parseInt(g, 16));
  const h = groups(head);
  const t = groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** A v2 PROXY (command 1) header over TCP; `local` gives the LOCAL command with no address. */
export function proxyV2(
  source: string,
  dest: string,
  options: { local?: boolean; ports?: [number, number] } = {},
) {
  if (options.local) return Uint8Array.from([...V2_SIGNATURE, 0x20, 0x00, 0, 0]);
  const [sp, dp] = options.ports ?? [40_000, 8_020];
  const body = [...ipBytes(source), ...ipBytes(dest), sp >> 8, sp & 0xff, dp >> 8, dp & 0xff];
  const family = source.includes(":") ? 0x21 : 0x11;
  return Uint8Array.from([...V2_SIGNATURE, 0x21, family, body.length >> 8, body.length & 0xff, ...body]);
}

export interface ReceivedProxy {
  version: 1 | 2;
  family: string;
  source: string;
  dest: string;
  sourcePort: number;
  destPort: number;
}

function formatV6(b: number[]): string {
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(":");
}

/** Reads one PROXY header off the front of `data`: what it says and how long it is. */
export function readProxyHeader(data: Uint8Array): { header: ReceivedProxy; length: number } | null {
  if (text(data.subarray(0, 6)) === "PROXY ") {
    const end = text(data).indexOf("\r\n");
    if (end < 0) return null;
    const [, family = "", source = "", dest = "", sp = "", dp = ""] = text(data.subarray(0, end)).split(" ");
    return {
      header: { version: 1, family, source, dest, sourcePort: Number(sp), destPort: Number(dp) },
      length: end + 2,
    };
  }
  if (data.length < 16 || V2_SIGNATURE.some((b, i) => data[i] !== b)) return null;
  const length = 16 + ((data[14]! << 8) | data[15]!);
  if (data.length < length) return null;
  if (data[12] === 0x20) {
    const header = { version: 2, family: "LOCAL", source: "", dest: "", sourcePort: 0, destPort: 0 } as const;
    return { header, length };
  }
  const body = Array.from(data.subarray(16, length));
  const v4 = data[13] === 0x11;
  const size = v4 ? 4 : 16;
  const ip = (at: number) => v4 ? body.slice(at, at + 4).join(".") : formatV6(body.slice(at, at + 16));
  const port = (at: number) => (body[at]! << 8) | body[at + 1]!;
  return {
    header: {
      version: 2,
      family: v4 ? "TCP4" : data[13] === 0x21 ? "TCP6" : `0x${data[13]!.toString(16)}`,
      source: ip(0),
      dest: ip(size),
      sourcePort: port(size * 2),
      destPort: port(size * 2 + 2),
    },
    length,
  };
}

export interface ProxyBackend extends AsyncDisposable {
  readonly address: string;
  /** Per connection: the PROXY header received (null when none) and the request head after it. */
  readonly received: { proxy: ReceivedProxy | null; head: string }[];
}

/** A backend that reads an optional PROXY header, then an upgrade request, answers 101 and echoes. */
export function proxyBackend(): ProxyBackend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: ProxyBackend["received"] = [];
  const open = new Set<ByteReader>();
  const serve = async (conn: Deno.Conn) => {
    const reader = new ByteReader(conn);
    open.add(reader);
    try {
      while (reader.buffered.length < 16 && await reader.fill(5_000));
      const proxy = readProxyHeader(reader.buffered);
      if (proxy) reader.take(proxy.length);
      const head = await reader.readHead(5_000);
      if (head === null) return;
      received.push({ proxy: proxy?.header ?? null, head });
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? "";
      await writeAll(
        conn,
        bytes(
          `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
        ),
      );
      while (await reader.fill(30_000)) await writeAll(conn, reader.take(reader.buffered.length));
    } catch {
      /* the test closed it */
    } finally {
      open.delete(reader);
      await reader.close();
    }
  };
  const served = serveEach(listener, serve);
  return {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    received,
    async [Symbol.asyncDispose]() {
      await served.stopAccepting();
      for (const reader of open) await reader.close();
      await served.settled();
    },
  };
}

/** Sends `request` from another loopback address (127.0.0.2 ...) and returns all bytes until close. */
export function requestFrom(
  localAddress: string,
  port: number,
  request: string | Uint8Array,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    const socket = net.connect({ host: "127.0.0.1", port, localAddress }, () => socket.write(bytes(request)));
    const timer = setTimeout(() => socket.destroy(new Error("timed out")), 5_000);
    socket.on("data", (chunk: Uint8Array) => chunks.push(new Uint8Array(chunk)));
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(concat(chunks));
    });
  });
}
