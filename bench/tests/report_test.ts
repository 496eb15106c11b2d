import assert from "node:assert/strict";
import { baselineChecks, fmt, markdownTable, type RunRecord, summarise } from "../driver/report.ts";
import type { Figure } from "../driver/cases.ts";

const rate: Figure = { key: "r", label: "rate", better: "higher", proxyOnly: false, baseline: true };
const p99: Figure = { key: "l", label: "p99", better: "lower", proxyOnly: false, baseline: true };

function rec(target: string, r: number, l: number): RunRecord {
  return { rep: 1, case: "echo", target, at: "", raw: {}, figures: { r, l } };
}

Deno.test("summarise: median, min, max per target", () => {
  const s = summarise([
    rec("nginx", 3, 1),
    rec("nginx", 1, 1),
    rec("nginx", 2, 1),
    rec("x", 4, 1),
    rec("x", 6, 1),
  ], [
    rate,
  ], ["nginx", "x"]);
  assert.deepEqual(s["r"]?.["nginx"], { median: 2, min: 1, max: 3, values: [1, 2, 3] });
  assert.equal(s["r"]?.["x"]?.median, 5);
});

Deno.test("baselineChecks", async (t) => {
  const cases = [
    { name: "direct faster", direct: [10, 1], want: [true, true] },
    { name: "direct slower on rate only", direct: [4, 1], want: [false, true] },
    { name: "direct worse latency", direct: [10, 9], want: [true, false] },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const records = [rec("direct", c.direct[0]!, c.direct[1]!), rec("nginx", 5, 2), rec("wsgate", 3, 3)];
      const targets = ["direct", "nginx", "wsgate"];
      const checks = baselineChecks(summarise(records, [rate, p99], targets), [rate, p99], targets);
      assert.deepEqual(checks.map((x) => x.ok), c.want);
    });
  }
});

Deno.test("markdownTable: ratio to nginx, none for nginx itself, missing runs flagged", () => {
  const targets = ["nginx", "wsgate"];
  const summary = summarise([rec("nginx", 200, 1), rec("wsgate", 100, 1)], [rate], targets);
  assert.match(
    markdownTable(summary, [rate], { targets, runs: 1 }),
    /\| rate \(↑\) \| 200 \| 100 \*\*×0\.50\*\* \|/,
  );
  assert.match(markdownTable(summary, [rate], { targets, runs: 3 }), /\| 100 \(n=1\/3\) \*\*×0\.50\*\* \|/);
});

Deno.test("markdownTable: ×floor beside ×nginx for wsgate targets, ×before for wsgate-bin", () => {
  const targets = ["nginx", "floor-deno", "wsgate-deno", "floor-bun", "wsgate-bin", "wsgate-baseline"];
  const summary = summarise(
    [
      rec("nginx", 200, 1),
      rec("floor-deno", 400, 1),
      rec("wsgate-deno", 100, 1),
      rec("floor-bun", 250, 1),
      rec("wsgate-bin", 150, 1),
      rec("wsgate-baseline", 120, 1),
    ],
    [rate],
    targets,
  );
  const row = markdownTable(summary, [rate], { targets, runs: 1 }).split("\n")[2]!.split(" | ");
  assert.deepEqual(row.slice(1), [
    "200",
    "400 **×2.00**",
    "100 **×0.50** · floor ×0.25",
    "250 **×1.25**",
    "150 **×0.75** · floor ×0.60 · before ×1.25",
    "120 **×0.60** · floor ×0.48 |",
  ]);
});

Deno.test("markdownTable: no ×floor without the floor, nor against a zero median", () => {
  const targets = ["nginx", "floor-bun", "wsgate-bin"];
  const noFloor = summarise([rec("nginx", 200, 1), rec("wsgate-bin", 100, 1)], [rate], targets);
  assert.match(markdownTable(noFloor, [rate], { targets, runs: 1 }), /\| 100 \*\*×0\.50\*\* \|$/);
  const zero = summarise(
    [rec("nginx", 0, 1), rec("floor-bun", 0, 1), rec("wsgate-bin", 0, 1)],
    [rate],
    targets,
  );
  assert.match(markdownTable(zero, [rate], { targets, runs: 1 }), /\| 0 \| 0 \| 0 \|$/);
});

Deno.test("markdownTable: no ratios on a signed difference", () => {
  const kept: Figure = { ...rate, label: "kept", better: "lower", ratios: false };
  const targets = ["nginx", "floor-bun", "wsgate-bin"];
  const summary = summarise(
    [rec("nginx", 2, 1), rec("floor-bun", -1, 1), rec("wsgate-bin", 3, 1)],
    [kept],
    targets,
  );
  assert.match(
    markdownTable(summary, [kept], { targets, runs: 1 }),
    /\| kept \(↓\) \| 2\.00 \| -1\.00 \| 3\.00 \|$/,
  );
});

Deno.test("fmt", async (t) => {
  const cases = [
    { name: "thousands", v: 41230.4, want: "41,230" },
    { name: "hundreds", v: 221.4, want: "221" },
    { name: "tens", v: 17.54, want: "17.5" },
    { name: "small", v: 0.7412, want: "0.741" },
    { name: "zero", v: 0, want: "0" },
    { name: "NaN", v: NaN, want: "n/a" },
  ];
  for (const c of cases) await t.step(c.name, () => assert.equal(fmt(c.v), c.want));
});
