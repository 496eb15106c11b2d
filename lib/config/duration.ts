/**
 * Durations as people write them in configs ("250ms", "30s", "1h30m", "1d", or a number of
 * seconds) <-> integer milliseconds. Pure.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** setTimeout() fires at once for delays above 2^31-1 ms, so a longer timeout would be a silent bug. */
export const MAX_DURATION_MS = 2_147_483_647;

const SECONDS = /^\d+(?:\.\d+)?$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * "250ms" "30s" "5m" "2h" "1d", combinations like "1h30m", or a number of seconds (number or
 * digit string, fractions ok) -> milliseconds (integer). Returns an error message string for
 * anything else (negative, NaN, unknown unit, empty). `max`: for a value that is never one
 * setTimeout() delay (its user clamps its timers).
 */
export function parseDuration(value: unknown, max = MAX_DURATION_MS): number | { error: string } {
  if (typeof value === "number") return fromSeconds(value, max);
  if (typeof value !== "string") return { error: "not a string or number" };
  const text = value.trim();
  if (text === "") return { error: "empty" };
  if (text.startsWith("-")) return { error: "negative" };
  if (SECONDS.test(text)) return fromSeconds(Number(text), max);
  let ms = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const match = PART.exec(text);
    if (!match) return { error: describeBadPart(text.slice(start)) };
    ms += Number(match[1]) * UNIT_MS[match[2]!]!;
  }
  return checked(ms, max);
}

function fromSeconds(seconds: number, max: number): number | { error: string } {
  if (!Number.isFinite(seconds)) return { error: "not a finite number" };
  if (seconds < 0) return { error: "negative" };
  return checked(seconds * 1_000, max);
}

function checked(ms: number, max: number): number | { error: string } {
  const rounded = Math.round(ms);
  if (rounded > max) {
    return { error: `longer than the maximum ${formatDuration(max)}` };
  }
  return rounded;
}

/** Says what is wrong with the unparsable rest of a duration, e.g. "5w" -> unknown unit "w". */
function describeBadPart(rest: string): string {
  const unit = /^\d+(?:\.\d+)?\s*([^\d.\s]+)/.exec(rest)?.[1];
  if (unit !== undefined) return `unknown unit "${unit}"`;
  if (/^\d+(?:\.\d+)?$/.test(rest)) return `missing unit after "${rest}"`;
  return `cannot read "${rest}"`;
}

/** 86400000 -> "1d", 5400000 -> "1h30m", 1500 -> "1.5s", 250 -> "250ms", 0 -> "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1_000) return `${ms}ms`;
  let rest = ms;
  let text = "";
  for (const unit of ["d", "h", "m"] as const) {
    const size = UNIT_MS[unit]!;
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return rest > 0 ? `${text}${rest / 1_000}s` : text;
}
