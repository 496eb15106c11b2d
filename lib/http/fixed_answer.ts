/**
 * FIXED ANSWERS (pure): what a `redirect` or `respond` route writes, without any upstream. The
 * same answer goes to an upgrade request (no 101: the client hears the redirect or the status).
 */
import { serializeResponseHead } from "./head.ts";
import { reasonPhrase } from "./responses.ts";
import type { Header } from "./headers.ts";
import type { FixedAnswer } from "../config/schema.ts";

const encoder = new TextEncoder();
/** Each respond route's body as bytes, encoded once. */
const bodies = new WeakMap<FixedAnswer, Uint8Array>();
const NO_BODY = new Uint8Array(0);

/**
 * The answer's bytes. `location`: the redirect's rendered `to`. `edit` applies the route's
 * response_headers to the answer's own headers (Location, Content-Type). A HEAD request, a 204
 * and a 304 get the head alone.
 */
export function fixedAnswer(
  answer: FixedAnswer,
  options: { method: string; location?: string; edit?: (headers: Header[]) => Header[] },
): { bytes: Uint8Array; bodyBytes: number } {
  const body = answer.kind === "respond" ? bodyOf(answer) : NO_BODY;
  let headers: Header[] = answer.kind === "redirect"
    ? [{ name: "Location", value: options.location ?? "/" }]
    : [{ name: "Content-Type", value: answer.content_type }];
  if (options.edit) headers = options.edit(headers);
  const bodiless = answer.status === 204 || answer.status === 304;
  if (!bodiless) headers.push({ name: "Content-Length", value: String(body.length) });
  headers.push({ name: "Connection", value: "close" });
  const head = serializeResponseHead({
    version: "HTTP/1.1",
    status: answer.status,
    reason: reasonPhrase(answer.status),
    headers,
  });
  const sent = options.method === "HEAD" || bodiless ? NO_BODY : body;
  if (sent.length === 0) return { bytes: head, bodyBytes: 0 };
  const bytes = new Uint8Array(head.length + sent.length);
  bytes.set(head);
  bytes.set(sent, head.length);
  return { bytes, bodyBytes: sent.length };
}

function bodyOf(answer: FixedAnswer & { kind: "respond" }): Uint8Array {
  let body = bodies.get(answer);
  if (!body) bodies.set(answer, body = encoder.encode(answer.body));
  return body;
}

/**
 * A redirect's Location as rendered from the request: a relative one starts with a single "/"
 * (`{uri}` of a request for `//evil.example/` would otherwise send the browser to that host).
 */
export function safeLocation(rendered: string): string {
  if (!rendered.startsWith("/") && !rendered.startsWith("\\")) return rendered;
  let from = 0;
  while (rendered[from] === "/" || rendered[from] === "\\") from++;
  return `/${rendered.slice(from)}`;
}
