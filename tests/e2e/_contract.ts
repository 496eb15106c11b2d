/**
 * Request builders for the contract tests (contract_*_test.ts): hand-written heads, so a case can
 * break any one rule of DESIGN §4 (duplicate lines, odd spelling) that upgradeRequest would tidy up.
 */
import { ByteReader, CRLF, dial, type HttpResponse, parseResponse, rawRequest } from "./_wire.ts";

export const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** A request head from its lines (request line first), CRLF-terminated. */
export const head = (...lines: string[]): string => lines.join(CRLF) + CRLF + CRLF;

/** The header lines of a valid upgrade, without the request line. */
export const upgradeLines = (key = KEY): string[] => [
  "Host: gw.test",
  "Upgrade: websocket",
  "Connection: Upgrade",
  `Sec-WebSocket-Key: ${key}`,
  "Sec-WebSocket-Version: 13",
];

/** A valid upgrade for `path`; `extra` lines are added as they are, duplicates included. */
export const upgrade = (path: string, ...extra: string[]): string =>
  head(`GET ${path} HTTP/1.1`, ...upgradeLines(), ...extra);

/** Reads from `reader` until it holds `n` bytes (or EOF); returns them. */
export async function readN(reader: ByteReader, n: number, timeoutMs = 5_000): Promise<Uint8Array> {
  const deadline = Date.now() + timeoutMs;
  while (reader.buffered.length < n && await reader.fill(Math.max(1, deadline - Date.now())));
  return reader.take(Math.min(n, reader.buffered.length));
}

/** Sends `request`, reads everything until the gateway closes (throws if it does not within 5 s). */
export async function ask(port: number, request: string | Uint8Array): Promise<HttpResponse> {
  return parseResponse(await rawRequest(port, request));
}

/** A raw connection to the gateway, closed on dispose: `await using link = await connection(port)`. */
export async function connection(
  port: number,
): Promise<{ conn: Deno.Conn; reader: ByteReader } & AsyncDisposable> {
  const conn = await dial(port);
  const reader = new ByteReader(conn);
  return { conn, reader, [Symbol.asyncDispose]: () => reader.close() };
}
