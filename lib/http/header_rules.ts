/**
 * HEADER RULES (pure): a route's `set` / `add` / `remove` applied to a header list, values
 * rendered from the request's facts. A value that renders empty, holds a control byte (a CR or LF
 * from a claim or a certificate would start a header line of its own) or is longer than
 * MAX_RENDERED_BYTES is not sent; the caller hears of it through `skipped` (to log it).
 */
import { renderTemplate, type RequestFacts } from "../net/placeholders.ts";
import { type Header, withoutHeaders } from "./headers.ts";
import type { HeaderRules, HeaderTemplate } from "../config/schema.ts";

/** A rendered value longer than this is not sent: a client-controlled `{uri}` or `{host}`
 * repeated in a template must not grow a head past what the next hop accepts. */
export const MAX_RENDERED_BYTES = 8_192;

export type SkipReason = "empty" | "control character" | "too long";

/** Why a value must not be sent, or undefined. */
export function unsendable(value: string): SkipReason | undefined {
  if (value === "") return "empty";
  if (value.length > MAX_RENDERED_BYTES) return "too long";
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return "control character";
  }
  return undefined;
}

/** A new list: `drop` removed, then each sendable `set` and `add` appended in order. */
export function applyHeaderRules(
  headers: readonly Header[],
  rules: HeaderRules,
  facts: RequestFacts,
  skipped: (name: string, reason: SkipReason) => void,
): Header[] {
  let out = rules.drop.length > 0 ? withoutHeaders(headers as Header[], rules.drop) : [...headers];
  const render = (rule: HeaderTemplate) => {
    const value = renderTemplate(rule.value, facts);
    const reason = unsendable(value);
    if (reason) skipped(rule.name, reason);
    return reason ? undefined : value;
  };
  for (const rule of rules.set) {
    const value = render(rule);
    if (value === undefined) continue;
    if (rule.lower === "host") out = withoutHeaders(out, ["host"]);
    out.push({ name: rule.name, value });
  }
  for (const rule of rules.add) {
    const value = render(rule);
    if (value !== undefined) out.push({ name: rule.name, value });
  }
  return out;
}
