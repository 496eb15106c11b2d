/**
 * A minimal HTTP/1.1 client for the supervisor to talk to its workers' private admin sockets:
 * one request per connection, the whole answer read until close.
 */
import { HeadParseError } from "../errors.ts";
import { findHeadEnd } from "../http/read_head.ts";
import { parseResponseHead } from "../http/head.ts";
import { concat } from "../net/bytes.ts";
import type { Addr, Net } from "../runtime/types.ts";

export async function adminRequest(
  net: Net,
  addr: Addr,
  request: { method: "GET" | "POST"; path: string },
): Promise<{ status: number; body: string }> {
  const conn = await net.connect({ addr });
  try {
    const head =
      `${request.method} ${request.path} HTTP/1.1\r\nHost: wsgate-worker\r\nContent-Length: 0\r\n` +
      "Connection: close\r\n\r\n";
    await conn.write(new TextEncoder().encode(head));
    let received: Uint8Array = new Uint8Array(0);
    for (let chunk = await conn.read(); chunk !== null; chunk = await conn.read()) {
      received = concat(received, chunk.slice());
    }
    const end = findHeadEnd(received, 0);
    if (end === -1) throw new HeadParseError("worker closed before a complete answer");
    const response = parseResponseHead(received.subarray(0, end));
    return { status: response.status, body: new TextDecoder().decode(received.subarray(end)) };
  } finally {
    conn.close();
  }
}
