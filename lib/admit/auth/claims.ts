/**
 * CLAIMS -> HEADERS (pure): `claims_to_headers: { X-User-Id: sub }` as header fields for the
 * upstream request, rendered like a `{jwt.CLAIM}` placeholder (net/placeholders.ts: lists joined
 * with ",", objects not sent). A claim that is absent, empty, over 8 KiB, or would put a control
 * byte (CR, LF, NUL, ...) into a header is not sent: a token's content must never split a header.
 */
import type { Header } from "../../http/headers.ts";
import { claimText } from "../../net/placeholders.ts";

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
    const value = claimText(claims[claim]);
    if (value === "" || value.length > MAX_VALUE || CONTROL.test(value)) {
      if (claims[claim] !== undefined) skipped.push(name);
      continue;
    }
    headers.push({ name, value });
  }
  return { headers, skipped };
}
