/**
 * The layout's rules, checked on the real import graph (`deno info --json main.ts`):
 * - no import cycles among lib/ modules;
 * - lib/config/ sits below the features: it imports only config/, net/ and errors.ts;
 * - pure folders (http/, net/, balance/, route.ts) import nothing from runtime/ but its types;
 * - only runtime/ names an adapter (deno.ts, bun.ts, ...): everyone else goes through mod.ts/types.ts.
 * Run: `deno run --allow-run --allow-read scripts/check_imports.ts` (also a test: tests/layout_test.ts).
 */

export type Graph = Map<string, string[]>;

/** lib/-relative module paths and their lib/ imports (code and type-only alike). */
export async function libGraph(root: string): Promise<Graph> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: root,
    stdout: "piped",
  }).output();
  if (!out.success) throw new Error("deno info failed");
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
    }[];
  };
  const prefix = new URL("lib/", `file://${root.endsWith("/") ? root : `${root}/`}`).href;
  const local = (specifier: string | undefined) =>
    specifier?.startsWith(prefix) ? specifier.slice(prefix.length) : undefined;
  const graph: Graph = new Map();
  for (const module of info.modules) {
    const from = local(module.specifier);
    if (from === undefined) continue;
    const targets = new Set<string>();
    for (const dep of module.dependencies ?? []) {
      for (const to of [local(dep.code?.specifier), local(dep.type?.specifier)]) if (to) targets.add(to);
    }
    graph.set(from, [...targets].sort());
  }
  return graph;
}

/** Every broken rule, one line each; empty when the layout holds. */
export function layoutProblems(graph: Graph): string[] {
  const problems = cycles(graph).map((cycle) => `import cycle: ${cycle.join(" -> ")}`);
  for (const [from, targets] of graph) {
    for (const to of targets) {
      const why = forbidden(from, to);
      if (why) problems.push(`${from} imports ${to}: ${why}`);
    }
  }
  return problems;
}

const PURE = ["http/", "net/", "balance/", "route.ts"];

function forbidden(from: string, to: string): string | undefined {
  if (from.startsWith("config/") && !/^(config\/|net\/|errors\.ts$)/.test(to)) {
    return "config imports only config/, net/ and errors.ts (features import config, not the other way)";
  }
  if (PURE.some((p) => from.startsWith(p)) && to.startsWith("runtime/") && to !== "runtime/types.ts") {
    return "a pure module uses the runtime only through runtime/types.ts";
  }
  if (!from.startsWith("runtime/") && to.startsWith("runtime/") && !/^runtime\/(mod|types)\.ts$/.test(to)) {
    return "only runtime/ knows an adapter; use runtime/mod.ts or runtime/types.ts";
  }
  return undefined;
}

/** Each strongly connected group of modules (Tarjan), as a path that closes on its first module. */
function cycles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== node);
    const selfLoop = (graph.get(node) ?? []).includes(node);
    if (group.length > 1 || selfLoop) found.push([...group.reverse(), group[0]!]);
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname;
  const graph = await libGraph(root);
  const problems = layoutProblems(graph);
  for (const problem of problems) console.log(problem);
  const edges = [...graph.values()].reduce((n, targets) => n + targets.length, 0);
  console.log(`${graph.size} modules, ${edges} imports, ${problems.length} problems`);
  if (problems.length > 0) Deno.exit(1);
}
