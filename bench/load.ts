/**
 * The load client, run with `bun` by bench/run.ts: one scenario per process, result as one JSON
 * line on stdout. It reads the proxy's CPU/RSS itself (--pids) so the counters bracket exactly
 * the measured window.
 *
 *   bun bench/load.ts --scenario echo|bulk|handshake|idle|http --port P [--conns N] [--size BYTES]
 *     [--warmup-ms MS] [--duration-ms MS] [--tunnels N] [--close] [--pids 1,2] [--header "Name: value"]
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { runPingPong } from "./load/pingpong.ts";
import { runHandshakes } from "./load/handshake.ts";
import { upgradeRequest } from "./load/frames.ts";
import { runIdle } from "./load/idle.ts";
import { runHttp } from "./load/http.ts";

const { values } = parseArgs({
  options: {
    scenario: { type: "string" },
    port: { type: "string" },
    conns: { type: "string", default: "100" },
    size: { type: "string", default: "64" },
    "warmup-ms": { type: "string", default: "1000" },
    "duration-ms": { type: "string", default: "5000" },
    tunnels: { type: "string", default: "5000" },
    pids: { type: "string", default: "" },
    close: { type: "boolean", default: false },
    /** One more header line for the handshake scenario, e.g. "Authorization: Bearer TOKEN". */
    header: { type: "string" },
  },
});

function int(name: keyof typeof values): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got ${values[name]}`);
  return n;
}

const port = int("port");
const conns = int("conns");
const warmupMs = int("warmup-ms");
const durationMs = int("duration-ms");
const pids = (values.pids ?? "").split(",").filter(Boolean).map(Number);

// Whatever happens, this process ends: the driver must never wait on a stuck client.
const DEADLINE_MS = warmupMs + durationMs + 180_000;
setTimeout(() => {
  console.error(`load: deadline of ${DEADLINE_MS} ms passed, exiting`);
  process.exit(3);
}, DEADLINE_MS).unref();

async function run(): Promise<unknown> {
  switch (values.scenario) {
    case "echo":
    case "bulk":
      return await runPingPong({ port, conns, payloadBytes: int("size"), warmupMs, durationMs, pids });
    case "handshake":
      return await runHandshakes({
        port,
        concurrency: conns,
        warmupMs,
        durationMs,
        pids,
        ...(values.header !== undefined && { request: upgradeRequest("127.0.0.1", values.header) }),
      });
    case "http":
      return await runHttp({ port, conns, close: values.close ?? false, warmupMs, durationMs, pids });
    case "idle":
      return await runIdle({ port, tunnels: int("tunnels"), concurrency: conns, settleMs: 2_000, pids });
    default:
      throw new Error(`unknown --scenario ${values.scenario}`);
  }
}

try {
  console.log(JSON.stringify(await run()));
  process.exit(0);
} catch (err) {
  console.error(`load: ${err instanceof Error ? err.stack : err}`);
  process.exit(1);
}
