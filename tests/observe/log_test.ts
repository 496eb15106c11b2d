/**
 * Log records in both formats: whatever a value holds, a record stays one line that carries no
 * control character (C0, DEL, C1) and no U+2028/U+2029, and parses back to the same value.
 */
import assert from "node:assert/strict";
import { createLogger, formatJson, formatText } from "../../lib/observe/log.ts";
import { parseLogLine } from "../e2e/_harness.ts";
import { concat } from "../e2e/_wire.ts";

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

/** Runs `script` (a module's text, `LOG_URL` standing for log.ts's URL) in `count` processes sharing one
 * stdout pipe, read slowly like a busy log shipper's; returns the lines. */
async function sharedPipeLines(script: (worker: number) => string, count: number): Promise<string[]> {
  const logUrl = JSON.stringify(new URL("../../lib/observe/log.ts", import.meta.url).href);
  const env: Record<string, string> = {};
  const jobs: string[] = [];
  for (let worker = 1; worker <= count; worker++) {
    env[`S${worker}`] = script(worker).replaceAll("LOG_URL", logUrl);
    jobs.push(`'${Deno.execPath()}' eval --quiet "$S${worker}" &`);
  }
  const child = new Deno.Command("sh", { args: ["-c", `${jobs.join(" ")} wait`], env, stdout: "piped" })
    .spawn();
  const chunks: Uint8Array[] = [];
  for await (const chunk of child.stdout) {
    chunks.push(chunk);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.equal((await child.status).code, 0);
  const lines = new TextDecoder().decode(concat(chunks)).split("\n");
  assert.equal(lines.pop(), "");
  return lines;
}

Deno.test("log: workers sharing one stdout pipe never split each other's lines", async () => {
  // A supervisor's workers inherit its stdout. POSIX keeps a write of at most PIPE_BUF (4,096)
  // bytes to a pipe whole; a longer one (a 64 KiB batch) can take another process's bytes in its
  // middle once the pipe is full, and both records are broken.
  const lines = await sharedPipeLines((worker) => `
    import { createLogger } from LOG_URL;
    const logger = createLogger("text", { worker: ${worker} });
    for (let turn = 0; turn < 40; turn++) {
      for (let i = 0; i < 500; i++) logger.log("info", "access", { i, path: "/" + "p".repeat(200) });
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    logger.flush();
  `, 2);
  const whole = new RegExp(` info access worker=[12] i=\\d+ path=/p{200}$`);
  const broken = lines.filter((line) => !whole.test(line));
  assert.equal(
    broken.length,
    0,
    `${broken.length} lines broken, like ${JSON.stringify(broken[0]?.slice(0, 100))}`,
  );
  assert.equal(lines.length, 2 * 40 * 500);
});

Deno.test("log text: numbers as String() writes them, values quoted only when they must be", () => {
  const numbers = [0, 7, 10, 99, 101, 65535, 1234567890123, Number.MAX_SAFE_INTEGER, -1, 1.5, 2 ** 60, NaN];
  const fields: Record<string, number | string | boolean> = {};
  numbers.forEach((n, i) => fields[`n${i}`] = n);
  Object.assign(fields, { yes: true, empty: "", plain: "a.b:c/d", spaced: "a b", high: "é" });
  const line = formatText("2025-01-01T00:00:00.000Z", "info", "x", fields);
  const expected = numbers.map((n, i) => `n${i}=${String(n)}`).join(" ") +
    ' yes=true empty="" plain=a.b:c/d spaced="a b" high="é"';
  assert.equal(line, `2025-01-01T00:00:00.000Z info x ${expected}`);
});

for (const format of ["text", "json"] as const) {
  Deno.test(`log ${format}: a worker's record longer than one atomic write is cut, never split by another's`, async () => {
    const path = "/" + "p".repeat(6000);
    const reason = "r".repeat(3000);
    const fields = JSON.stringify({ path, reason });
    const lines = await sharedPipeLines((worker) => `
      import { createLogger } from LOG_URL;
      const logger = createLogger(${JSON.stringify(format)}, { worker: ${worker} });
      for (let turn = 0; turn < 20; turn++) {
        for (let i = 0; i < 50; i++) logger.log("info", "access", { i, ...${fields} });
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      logger.flush();
    `, 2);
    assert.equal(lines.length, 2 * 20 * 50);
    for (const line of lines) {
      assert.ok(new TextEncoder().encode(line).length < 4096, `${line.length} bytes`);
      const record = parseLogLine(line);
      assert.equal(record?.event, "access", line.slice(0, 120));
      assert.match(String(record.fields.worker), /^[12]$/);
      // Cut to what fits, with how many chars were left out: kept + left out = the whole value.
      const value = String(record.fields.path);
      const cut = /^\/p+\.\.\.\[\+(\d+)\]$/.exec(value);
      assert.ok(cut, value.slice(-40));
      assert.equal(value.indexOf("...") + Number(cut[1]), path.length);
    }
  });
}

Deno.test("log: a single process writes a long record whole", async () => {
  const path = "/" + "p".repeat(6000);
  const lines = await sharedPipeLines(() => `
    import { createLogger } from LOG_URL;
    const logger = createLogger("text");
    logger.log("info", "access", { path: ${JSON.stringify(path)} });
    logger.flush();
  `, 1);
  assert.equal(lines.length, 1);
  assert.equal(parseLogLine(lines[0]!)?.fields.path, path);
});
