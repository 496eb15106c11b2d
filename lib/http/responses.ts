/** The answers wsgate writes itself: short, closed, with the reason phrase of RFC 9110 §15. */

const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  414: "URI Too Long",
  421: "Misdirected Request",
  426: "Upgrade Required",
  429: "Too Many Requests",
  451: "Unavailable For Legal Reasons",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** A status without a phrase of its own gets its class's (RFC 9110 §15: the phrase is advisory). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status < 400 ? "" : "Error");
}

const encoder = new TextEncoder();

/** A complete answer; the body (ASCII) is its status line's text unless given. */
export function errorResponse(
  status: number,
  headers: readonly [string, string][] = [],
  body = `${status} ${reasonPhrase(status)}\n`,
): Uint8Array {
  let head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  head +=
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return encoder.encode(head + body);
}
