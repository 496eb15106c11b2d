/**
 * A V8 CPU profile of a running wsgate on Deno, summed by file and by function (self time), for the
 * cost account in bench/RESULTS.md. Deno 2.9.6 has no --cpu-prof, so this asks the inspector:
 *
 *   deno run --inspect=127.0.0.1:9239 --allow-all --unstable-net main.ts --config C &   (then load it)
 *   deno run -A bench/cost/v8_profile.ts [ms] [out.cpuprofile]
 */
import WebSocket from "ws";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface Profile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
}

const ms = Number(Deno.args[0] ?? 5000);
const out = Deno.args[1] ?? "wsgate.cpuprofile";

const targets: { webSocketDebuggerUrl: string }[] = await (await fetch("http://127.0.0.1:9239/json/list"))
  .json();
const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
await new Promise((resolve) => ws.on("open", resolve));
let lastId = 0;
const pending = new Map<number, (result: unknown) => void>();
ws.on("message", (data: unknown) => {
  const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
  if (message.id !== undefined) pending.get(message.id)?.(message.result);
});
function call<T>(method: string, params = {}): Promise<T> {
  return new Promise((resolve) => {
    const id = ++lastId;
    pending.set(id, resolve as (result: unknown) => void);
    ws.send(JSON.stringify({ id, method, params }));
  });
}

await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 100 });
await call("Profiler.start");
await new Promise((resolve) => setTimeout(resolve, ms));
const { profile } = await call<{ profile: Profile }>("Profiler.stop");
ws.close();
Deno.writeTextFileSync(out, JSON.stringify(profile));

const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
for (const sample of profile.samples) {
  const frame = frames.get(sample)!;
  const file = frame.url.replace(/^.*\/lib\//, "lib/").replace(/^.*node_modules\//, "npm:");
  add(byFile, file || frame.functionName);
  add(byFunction, `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`);
}
const top = (map: Map<string, number>, n: number) =>
  [...map].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([key, count]) => `${(100 * count / profile.samples.length).toFixed(1).padStart(5)} %  ${key}`)
    .join("\n");
console.log(
  `${profile.samples.length} samples (${out})\n\nby file\n${top(byFile, 30)}\n\nby function\n${
    top(byFunction, 40)
  }`,
);
