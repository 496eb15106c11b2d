/**
 * CLAIMS -> HEADERS (pure): `claims_to_headers: { X-User-Id: sub }` as header fields for the
 * upstream request. Strings go as they are, numbers and booleans as text, lists of strings joined
 * with ", ", anything else as JSON. A claim that is absent, empty, or would put a control byte
 * (CR, LF, NUL, ...) into a header, or is over 8 KiB, is not sent: a token's content must never split a header.
 * Text beyond ASCII goes as its UTF-8 bytes (heads are one char per byte here).
 */
import type { Header } from "../../http/headers.ts";

/** Longer claims are not sent: no backend expects a header this big. */
const MAX_VALUE = 8_192;
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

export function claimHeaders(
  claims: Readonly<Record<string, unknown>>,
  mapping: readonly [string, string][],
): { headers: Header[]; skipped: string[] } {
  const headers: Header[] = [];
  const skipped: string[] = [];
  for (const [name, claim] of mapping) {
    const value = renderClaim(claims[claim]);
    if (value === undefined || value === "" || value.length > MAX_VALUE || CONTROL.test(value)) {
      if (claims[claim] !== undefined) skipped.push(name);
      continue;
    }
    headers.push({ name, value: utf8Bytes(value) });
  }
  return { headers, skipped };
}

export function renderClaim(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  return JSON.stringify(value);
}

/** One char per UTF-8 byte, as http/head.ts serialises heads. */
function utf8Bytes(text: string): string {
  return /^[ -~]*$/.test(text) ? text : String.fromCharCode(...new TextEncoder().encode(text));
}
