import assert from "node:assert/strict";
import { formatDuration, MAX_DURATION_MS, parseDuration } from "../../lib/config/duration.ts";

Deno.test("parseDuration accepts each unit, combinations and seconds", () => {
  const cases: [string, unknown, number][] = [
    ["milliseconds", "250ms", 250],
    ["seconds", "30s", 30_000],
    ["minutes", "5m", 300_000],
    ["hours", "2h", 7_200_000],
    ["days", "1d", 86_400_000],
    ["combination", "1h30m", 5_400_000],
    ["every unit", "1d2h3m4s5ms", 93_784_005],
    ["fractional unit", "1.5s", 1_500],
    ["fractional hours", "0.5h", 1_800_000],
    ["zero", "0s", 0],
    ["surrounding spaces", " 10s ", 10_000],
    ["number of seconds", 30, 30_000],
    ["fractional number", 0.25, 250],
    ["zero number", 0, 0],
    ["digit string", "30", 30_000],
    ["fractional digit string", "1.5", 1_500],
    ["rounds to whole ms", "0.0004s", 0],
    ["the maximum", "2147483.647", MAX_DURATION_MS],
  ];
  for (const [name, input, expected] of cases) {
    assert.equal(parseDuration(input), expected, name);
  }
});

Deno.test("parseDuration explains what is wrong", () => {
  const cases: [string, unknown, string][] = [
    ["empty", "", "empty"],
    ["blank", "  ", "empty"],
    ["negative string", "-5s", "negative"],
    ["negative number", -1, "negative"],
    ["NaN", NaN, "not a finite number"],
    ["infinity", Infinity, "not a finite number"],
    ["unknown unit", "5w", 'unknown unit "w"'],
    ["unknown unit after a good part", "1h5x", 'unknown unit "x"'],
    ["capital unit", "5S", 'unknown unit "S"'],
    ["missing unit after a good part", "1h30", 'missing unit after "30"'],
    ["words", "soon", 'cannot read "soon"'],
    ["inner space", "1h 30m", 'cannot read " 30m"'],
    ["unit as a word", "5 minutes", 'unknown unit "minutes"'],
    ["exponent", "1e3", 'unknown unit "e"'],
    ["too long for a timer", "25d", "longer than the maximum 24d20h31m23.647s"],
    ["boolean", true, "not a string or number"],
    ["null", null, "not a string or number"],
  ];
  for (const [name, input, error] of cases) {
    assert.deepEqual(parseDuration(input), { error }, name);
  }
});

Deno.test("formatDuration picks the shortest readable form", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [250, "250ms"],
    [1_000, "1s"],
    [1_500, "1.5s"],
    [60_000, "1m"],
    [61_500, "1m1.5s"],
    [5_400_000, "1h30m"],
    [86_400_000, "1d"],
    [MAX_DURATION_MS, "24d20h31m23.647s"],
  ];
  for (const [ms, text] of cases) {
    assert.equal(formatDuration(ms), text, String(ms));
    assert.equal(parseDuration(text), ms, `${text} round-trips`);
  }
});
