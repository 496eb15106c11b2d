import assert from "node:assert/strict";
import { FD_RESERVE, fitSteps, GROWTH_LOOPBACKS, parseHardLimit } from "../driver/growth.ts";
import { growthCase } from "../driver/cases.ts";
import { parseOptions } from "../driver/args.ts";

Deno.test("fitSteps: every step fits, nothing changes", () => {
  assert.deepEqual(fitSteps([0, 1000, 10_000, 30_000], 1_048_576), { steps: [0, 1000, 10_000, 30_000] });
  assert.deepEqual(fitSteps([0, 30_000], Infinity), { steps: [0, 30_000] });
});

Deno.test("fitSteps: steps above the open-files limit give way to the largest that fits", () => {
  // 20000 descriptors: (20000 - reserve) / 2, down to a hundred.
  const max = Math.floor((20_000 - FD_RESERVE) / 2 / 100) * 100;
  assert.equal(max, 8800);
  assert.deepEqual(fitSteps([0, 1000, 10_000, 30_000], 20_000), {
    steps: [0, 1000, max],
    capped: { hardLimit: 20_000, max, dropped: [10_000, 30_000] },
  });
  // Already a step: not twice.
  assert.deepEqual(fitSteps([0, 8800, 30_000], 20_000).steps, [0, 8800]);
  // Nothing fits but 0.
  assert.deepEqual(fitSteps([0, 1000], 2500).steps, [0]);
});

Deno.test("parseHardLimit", () => {
  assert.equal(parseHardLimit("20000\n"), 20_000);
  assert.equal(parseHardLimit("unlimited"), Infinity);
  assert.ok(Number.isNaN(parseHardLimit("sh: ulimit: not found")));
  assert.ok(Number.isNaN(parseHardLimit("")));
  // An unknown limit drops nothing: the run then tries every step.
  assert.deepEqual(fitSteps([0, 30_000], NaN).steps, [0, 30_000]);
});

Deno.test("growthCase: figures per step, from the load client's steps", () => {
  const c = growthCase(parseOptions(["--growth-handshakes", "500"]), [0, 1000, 9800]);
  const args = c.loadArgs(parseOptions([]));
  assert.deepEqual(args.slice(args.indexOf("--steps"), args.indexOf("--steps") + 4), [
    "--steps",
    "0,1000,9800",
    "--handshakes",
    "500",
  ]);
  assert.equal(args[args.indexOf("--hosts") + 1], GROWTH_LOOPBACKS.join(","));
  assert.deepEqual(c.shape, { tunnels: 9800, loopbacks: GROWTH_LOOPBACKS });
  const step = (wanted: number, p50us: number, cpuTicks: number) => ({
    wanted,
    open: wanted,
    rssKiB: 1000 + wanted * 10,
    idleCpuTicks: 3,
    idleSeconds: 3,
    handshakes: 500,
    failures: 0,
    p50us,
    p99us: 4 * p50us,
    cpuTicks,
    seconds: 1,
  });
  // The climb stopped before 9800: its figures are NaN, not zeros.
  const raw = { steps: [step(0, 1000, 20), step(1000, 1500, 30)], failures: 2, dropped: 1 };
  const got = c.derive(raw, 100);
  assert.equal(got["growth.p50.0"], 1);
  assert.equal(got["growth.p99.1000"], 6);
  assert.equal(got["growth.cpu.0"], 400); // 0.2 s / 500 handshakes
  assert.equal(got["growth.idle.1000"], 1); // 0.03 s of CPU in 3 s
  assert.equal(got["growth.rss.1000"], 11_000 * 1024 / 1e6);
  assert.equal(got["growth.failed"], 3);
  assert.ok(Number.isNaN(got["growth.p50.9800"]!));
  assert.ok(Number.isNaN(got["growth.p50x"]!));
  const full = c.derive({ ...raw, steps: [...raw.steps, step(9800, 3000, 40)] }, 100);
  assert.equal(full["growth.p50x"], 3);
  assert.equal(full["growth.cpux"], 2);
  for (const f of c.figures) assert.ok(f.key in full, f.key);
});

Deno.test("growthCase: malformed client output gives NaN, not a throw", () => {
  const c = growthCase(parseOptions([]), [0, 1000]);
  const got = c.derive({ steps: "nope" }, 100);
  assert.ok(Number.isNaN(got["growth.p50.0"]!));
  assert.ok(Number.isNaN(got["growth.failed"]!));
});
