/**
 * The load client, run with `bun` by bench/run.ts: one scenario per process, result as one JSON
 * line on stdout. It reads the proxy's CPU/RSS itself (--pids) so the counters bracket exactly
 * the measured window.
 *
 *   bun bench/load.ts --scenario echo|bulk|handshake|idle|http|growth --port P [--conns N] [--size BYTES]
 *     [--warmup-ms MS] [--duration-ms MS] [--tunnels N] [--close] [--pids 1,2] [--header "Name: value"]
 *     [--hosts 127.0.0.1,127.0.0.2] [--proxy-protocol] [--steps 0,1000] [--handshakes N] [--deadline-ms MS]
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { runPingPong } from "./load/pingpong.ts";
import { runHandshakes } from "./load/handshake.ts";
import { upgradeRequest } from "./load/frames.ts";
import { runIdle } from "./load/idle.ts";
import { runHttp } from "./load/http.ts";
import { runGrowth } from "./load/growth.ts";
import { setDialing } from "./load/client.ts";

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
    // Loopback addresses to spread the connections over; a PROXY v1 header first on each.
    hosts: { type: "string", default: "127.0.0.1" },
    "proxy-protocol": { type: "boolean", default: false },
    steps: { type: "string", default: "0" },
    handshakes: { type: "string", default: "1000" },
    "deadline-ms": { type: "string" },
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
setDialing((values.hosts ?? "").split(",").filter(Boolean), values["proxy-protocol"] ?? false);

// Whatever happens, this process ends: the driver must never wait on a stuck client.
const DEADLINE_MS = values["deadline-ms"] !== undefined
  ? int("deadline-ms")
  : warmupMs + durationMs + 180_000;
setTimeout(() => {
  console.error(`load: deadline of ${DEADLINE_MS} ms passed, exiting`);
  process.exit(3);
}, DEADLINE_MS).unref();

/** growth: opening handshakes in flight while tunnels are added (as the idle case opens them). */
const GROWTH_OPEN_CONCURRENCY = 100;

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
    case "growth":
      return await runGrowth({
        port,
        steps: (values.steps ?? "").split(",").map(Number),
        handshakes: int("handshakes"),
        concurrency: conns,
        openConcurrency: GROWTH_OPEN_CONCURRENCY,
        pids,
      });
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
