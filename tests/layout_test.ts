/** The layout rules of scripts/check_imports.ts: on made-up graphs, then on the real one. */
import assert from "node:assert/strict";
import { type Graph, layoutProblems, libGraph } from "../scripts/check_imports.ts";

const graph = (edges: Record<string, string[]>): Graph => new Map(Object.entries(edges));

Deno.test("layoutProblems() finds cycles, config above a feature, and adapters used outside runtime/", () => {
  const problems = layoutProblems(graph({
    "http/head.ts": ["http/headers.ts"],
    "http/headers.ts": ["http/head.ts"],
    "config/schema.ts": ["admit/access.ts", "net/cidr.ts"],
    "admit/access.ts": ["net/cidr.ts"],
    "net/cidr.ts": [],
    "route.ts": ["runtime/types.ts"],
    "balance/hash.ts": ["runtime/mod.ts"],
    "server.ts": ["runtime/deno.ts", "runtime/types.ts"],
    "runtime/deno.ts": ["runtime/types.ts", "net/cidr.ts"],
    "runtime/types.ts": [],
    "runtime/mod.ts": [],
  }));
  assert.deepEqual(problems.map((p) => p.replace(/: .*$/, "")), [
    "import cycle",
    "config/schema.ts imports admit/access.ts",
    "balance/hash.ts imports runtime/mod.ts",
    "server.ts imports runtime/deno.ts",
  ]);
  assert.match(
    problems[0]!,
    /http\/head\.ts -> http\/headers\.ts -> http\/head\.ts|http\/headers\.ts -> http\/head\.ts -> http\/headers\.ts/,
  );
});

Deno.test("lib/ keeps the layout: no cycles, config below the features, one runtime seam", async () => {
  const real = await libGraph(new URL("..", import.meta.url).pathname);
  assert.ok(real.size > 50, `found ${real.size} modules`);
  assert.deepEqual(layoutProblems(real), []);
});
