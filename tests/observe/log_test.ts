/**
 * Log records in both formats: whatever a value holds, a record stays one line that carries no
 * control character (C0, DEL, C1) and no U+2028/U+2029, and parses back to the same value.
 */
import assert from "node:assert/strict";
import { createLogger, formatJson, formatText } from "../../lib/observe/log.ts";
import { parseLogLine } from "../e2e/_harness.ts";

// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Every char that must be escaped, among harmless ones. */
const HOSTILE = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  ...Array.from({ length: 0x21 }, (_, i) => String.fromCharCode(0x7f + i)),
  "\u2028",
  "\u2029",
].join("x") + 'é"\\\u00a0';

for (const [name, format] of [["text", formatText], ["json", formatJson]] as const) {
  Deno.test(`log ${name}: control characters, C1 and U+2028/9 are escaped and parse back`, () => {
    // An Origin header as the head parser decodes it: one char per byte, so 0x85 is U+0085 (NEL).
    const origin = String.fromCharCode(0x68, 0x85, 0x9b, 0x31, 0x6d);
    const line = format("2025-01-01T00:00:00.000Z", "warn", "reject", { reason: HOSTILE, origin, n: 1 });
    assert.doesNotMatch(line, UNSAFE);
    const record = parseLogLine(line);
    assert.equal(record?.event, "reject");
    assert.equal(record.fields.reason, HOSTILE);
    assert.equal(record.fields.origin, origin);
    assert.equal(record.fields.n, "1");
  });
}

Deno.test("log: a plain record is written as it was", () => {
  const lines: string[] = [];
  createLogger("text", { worker: 2 }, (line) => lines.push(line)).log("info", "access", {
    client: "127.0.0.1:5000",
    path: "/a b",
  });
  assert.match(lines[0]!, / info access worker=2 client=127.0.0.1:5000 path="\/a b"$/);
});

Deno.test("log: stdout gets every line whole and in order, a huge one and a burst past the flush size too", async () => {
  const logUrl = new URL("../../lib/observe/log.ts", import.meta.url).href;
  const script = `
    import { createLogger } from ${JSON.stringify(logUrl)};
    const logger = createLogger("text");
    logger.log("info", "first", { n: 1 });
    logger.log("warn", "huge", { reason: "é".repeat(150_000) + "x".repeat(150_000) });
    for (let i = 0; i < 3_000; i++) logger.log("info", "burst", { i, path: "/a b" });
    logger.log("info", "last", { ok: true });
    logger.flush();
  `;
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
  }).output();
  assert.equal(code, 0);
  const lines = new TextDecoder().decode(stdout).split("\n");
  assert.equal(lines.pop(), "", "every line ends with a newline");
  assert.equal(lines.length, 3_003);
  assert.match(lines[0]!, / info first n=1$/);
  const huge = parseLogLine(lines[1]!);
  assert.equal(huge?.fields.reason, "é".repeat(150_000) + "x".repeat(150_000));
  for (let i = 0; i < 3_000; i++) assert.match(lines[2 + i]!, new RegExp(` info burst i=${i} path="/a b"$`));
  assert.match(lines[3_002]!, / info last ok=true$/);
});
