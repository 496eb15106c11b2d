import assert from "node:assert/strict";
import { parseOptions } from "../driver/args.ts";
import { render } from "../driver/targets.ts";
import { CASES, HANDSHAKE_WARMUP_S } from "../driver/cases.ts";

Deno.test("parseOptions", async (t) => {
  const cases = [
    {
      name: "defaults",
      argv: [],
      want: {
        runs: 3,
        durationS: 5,
        releaseWaitS: 60,
        scenarios: ["echo", "bulk", "handshake", "idle", "http"],
      },
    },
    { name: "release wait off", argv: ["--release-wait", "0"], want: { releaseWaitS: 0 } },
    {
      name: "filters keep the canonical order",
      argv: ["--scenarios", "bulk,echo", "--targets", "wsgate-deno,nginx", "--runs", "1"],
      want: { runs: 1, scenarios: ["echo", "bulk"], targets: ["nginx", "wsgate-deno"] },
    },
    {
      name: "the warm handshake case only when asked for",
      argv: ["--scenarios", "handshake-warm,handshake", "--warmup", "2"],
      want: { warmupS: 2, scenarios: ["handshake", "handshake-warm"] },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const got = parseOptions(c.argv) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(got[k], v, k);
    });
  }
});

Deno.test("parseOptions rejects bad values", async (t) => {
  const cases = [
    { name: "unknown scenario", argv: ["--scenarios", "echo,nope"] },
    { name: "port range", argv: ["--base-port", "40000"] },
    { name: "zero runs", argv: ["--runs", "0"] },
    { name: "negative release wait", argv: ["--release-wait", "-1"] },
    { name: "growth step not a number", argv: ["--growth-steps", "0,1k"] },
    { name: "no growth step", argv: ["--growth-steps", ","] },
    { name: "too few growth handshakes", argv: ["--growth-handshakes", "1"] },
  ];
  for (const c of cases) await t.step(c.name, () => assert.throws(() => parseOptions(c.argv)));
});

Deno.test("the floors and the baseline run by default", () => {
  const { targets } = parseOptions([]);
  for (const t of ["floor-bun", "floor-deno", "wsgate-baseline"] as const) assert.ok(targets.includes(t), t);
});

Deno.test("growth, the PROXY protocol variants and the floor with steps run only when asked for", () => {
  const defaults = parseOptions([]);
  assert.ok(!defaults.scenarios.includes("growth"));
  assert.ok(!defaults.targets.some((t) => t.endsWith("-pp")));
  assert.ok(!defaults.targets.some((t) => t.endsWith("-steps")));
  assert.deepEqual(parseOptions(["--targets", "floor-bun-steps,floor-bun"]).targets, [
    "floor-bun",
    "floor-bun-steps",
  ]);
  assert.deepEqual(defaults.growthSteps, [0, 1000, 10_000, 30_000]);
  const asked = parseOptions(["--scenarios", "growth", "--targets", "wsgate-bin-pp,wsgate-bin"]);
  assert.deepEqual(asked.scenarios, ["growth"]);
  assert.deepEqual(asked.targets, ["wsgate-bin", "wsgate-bin-pp"]);
  assert.deepEqual(parseOptions(["--growth-steps", "10000, 0,1000,1000"]).growthSteps, [0, 1000, 10_000]);
});

Deno.test("render fills placeholders and refuses missing ones", () => {
  assert.equal(render("listen {{PORT}};", { PORT: 8080 }), "listen 8080;");
  assert.throws(() => render("{{MISSING}}", {}), /MISSING/);
});

Deno.test("handshake-warm warms up on its own clock, --warmup for the rest", () => {
  const o = parseOptions(["--scenarios", "handshake,handshake-warm", "--warmup", "2", "--duration", "3"]);
  const args = (name: string) => CASES.find((c) => c.name === name)!.loadArgs(o);
  const warmupMs = (argv: string[]) => argv[argv.indexOf("--warmup-ms") + 1];
  assert.equal(warmupMs(args("handshake")), "2000");
  assert.equal(warmupMs(args("hs-warm")), String(HANDSHAKE_WARMUP_S * 1000));
  assert.equal(args("hs-warm")[args("hs-warm").indexOf("--duration-ms") + 1], "3000");
});
