/** The answers wsgate writes itself: short, closed, with the reason phrase of RFC 9110 §15. */

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  414: "URI Too Long",
  421: "Misdirected Request",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Error";
}

const encoder = new TextEncoder();

export function errorResponse(status: number, headers: readonly [string, string][] = []): Uint8Array {
  const body = `${status} ${reasonPhrase(status)}\n`;
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  head +=
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return encoder.encode(head + body);
}
