/**
 * RFC 6455 §4 handshake checks: the client's Upgrade request (before wsgate dials anyone) and the
 * upstream's 101 (before wsgate relays it). Pure; the caller maps the results to statuses.
 */
import { HttpError } from "../errors.ts";
import type { RequestHead, ResponseHead } from "./head.ts";
import { countHeader, getHeader, hasToken } from "./headers.ts";
import { sha1Base64 } from "./sha1.ts";

export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Base64 of exactly 16 bytes: 22 significant characters, then "==" (RFC 6455 §4.1 item 7). */
const KEY = /^[A-Za-z0-9+/]{22}==$/;

/** base64(SHA-1(key + GUID)), RFC 6455 §4.2.2 item 5.4. */
export function computeAccept(key: string): string {
  return sha1Base64(key + WEBSOCKET_GUID);
}

/** Whether the client asks for WebSocket; other Upgrade values (h2c ...) are plain HTTP to wsgate. */
export function isWebSocketUpgrade(head: RequestHead): boolean {
  return hasToken(head.headers, "upgrade", "websocket");
}

/** Validates a client's WebSocket Upgrade request; returns the key. Throws HttpError(400) or HttpError(426). */
export function checkUpgradeRequest(head: RequestHead): { key: string } {
  if (head.method !== "GET") {
    throw new HttpError(400, `WebSocket upgrade with method ${head.method}, not GET`);
  }
  if (head.version !== "HTTP/1.1") {
    throw new HttpError(400, `WebSocket upgrade over ${head.version}, not HTTP/1.1`);
  }
  if (!hasToken(head.headers, "connection", "upgrade")) {
    throw new HttpError(400, 'WebSocket upgrade without "upgrade" in Connection');
  }
  if (!hasToken(head.headers, "upgrade", "websocket")) {
    throw new HttpError(400, 'WebSocket upgrade without "websocket" in Upgrade');
  }
  if (getHeader(head.headers, "transfer-encoding") !== undefined) {
    throw new HttpError(400, "WebSocket upgrade request with a chunked body");
  }
  if (Number(getHeader(head.headers, "content-length") ?? "0") > 0) {
    throw new HttpError(400, "WebSocket upgrade request with a Content-Length body");
  }
  // The version comes before the key: a client speaking another version learns which one we do.
  const version = getHeader(head.headers, "sec-websocket-version");
  if (version === undefined) throw new HttpError(400, "Missing Sec-WebSocket-Version");
  if (countHeader(head.headers, "sec-websocket-version") > 1) {
    throw new HttpError(400, "Multiple Sec-WebSocket-Version headers");
  }
  if (version !== "13") {
    throw new HttpError(426, `Unsupported Sec-WebSocket-Version ${JSON.stringify(version)}`, {
      headers: [["Upgrade", "websocket"], ["Sec-WebSocket-Version", "13"]],
    });
  }
  const key = getHeader(head.headers, "sec-websocket-key");
  if (key === undefined) throw new HttpError(400, "Missing Sec-WebSocket-Key");
  if (countHeader(head.headers, "sec-websocket-key") > 1) {
    throw new HttpError(400, "Multiple Sec-WebSocket-Key headers");
  }
  if (!KEY.test(key)) {
    throw new HttpError(
      400,
      `Sec-WebSocket-Key is not base64 of 16 bytes: ${JSON.stringify(key.slice(0, 40))}`,
    );
  }
  return { key };
}

/** Checks an upstream's answer to our Upgrade: undefined when it is a valid 101, else a short problem for the log. */
export function checkUpgradeResponse(
  head: ResponseHead,
  options: { key: string; offeredProtocols: string[] },
): string | undefined {
  if (head.status !== 101) return `upstream answered ${head.status} instead of 101`;
  if (head.version !== "HTTP/1.1") return `upstream 101 over ${head.version}`;
  if (!hasToken(head.headers, "upgrade", "websocket")) return 'upstream 101 without "websocket" in Upgrade';
  if (!hasToken(head.headers, "connection", "upgrade")) return 'upstream 101 without "upgrade" in Connection';
  const accept = getHeader(head.headers, "sec-websocket-accept");
  if (accept === undefined) return "upstream 101 without Sec-WebSocket-Accept";
  if (countHeader(head.headers, "sec-websocket-accept") > 1) {
    return "upstream 101 with multiple Sec-WebSocket-Accept headers";
  }
  if (accept !== computeAccept(options.key)) return "upstream 101 with a wrong Sec-WebSocket-Accept";
  if (countHeader(head.headers, "sec-websocket-protocol") > 1) {
    return "upstream 101 with multiple Sec-WebSocket-Protocol headers";
  }
  const protocol = getHeader(head.headers, "sec-websocket-protocol");
  if (protocol !== undefined && !options.offeredProtocols.includes(protocol)) {
    return `upstream 101 chose Sec-WebSocket-Protocol ${
      JSON.stringify(protocol)
    }, which the client did not offer`;
  }
  return undefined;
}
