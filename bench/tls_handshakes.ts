/**
 * TLS handshakes through the gateway, in a small bounded loop: N connections (4 at a time), each a
 * full TLS handshake, one request the gateway answers itself (404: no route) and a close. Prints
 * handshakes/s and the gateway's CPU per handshake (utime+stime from /proc, ticks of 10 ms).
 * Runs the source, or the binary named by WSGATE_BIN (like the e2e tests):
 *   deno run -A bench/tls_handshakes.ts [N] [sni]
 */
import { CA_PEM, startGateway, toYaml } from "../tests/e2e/_harness.ts";
import { LISTENERS, tlsFiles } from "../tests/e2e/_tls.ts";
import { cpuTicks } from "./procfs.ts";

const total = Number(Deno.args[0] ?? 1000);
const sni = Deno.args[1] === "sni";
const CONCURRENCY = 4;
const TICK_MS = 10;

const tls = sni ? LISTENERS["several, by SNI"] : LISTENERS["one certificate"];
await using gw = await startGateway({
  files: tlsFiles(),
  config: toYaml({
    servers: [{ listen: ["127.0.0.1:0"], tls, routes: [{ path: "/only", upstream: "app" }] }],
    upstreams: { app: { servers: ["127.0.0.1:9"] } },
    log: { access: false },
  }),
});

const request = new TextEncoder().encode("GET /elsewhere HTTP/1.1\r\nHost: localhost\r\n\r\n");
let left = total;
async function worker(): Promise<void> {
  const buffer = new Uint8Array(4096);
  while (left-- > 0) {
    const conn = await Deno.connectTls({ hostname: "localhost", port: gw.port, caCerts: [CA_PEM] });
    await conn.write(request);
    const n = await conn.read(buffer);
    if (n === null || !new TextDecoder().decode(buffer.subarray(0, 12)).startsWith("HTTP/1.1 404")) {
      throw new Error(`unexpected answer: ${new TextDecoder().decode(buffer.subarray(0, n ?? 0))}`);
    }
    conn.close();
  }
}

const cpuBefore = cpuTicks([gw.pid]);
const started = performance.now();
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
const seconds = (performance.now() - started) / 1000;
const cpuMs = (cpuTicks([gw.pid]) - cpuBefore) * TICK_MS;
console.log(JSON.stringify({
  runtime: Deno.env.get("WSGATE_BIN") ? "bun (binary)" : "deno (source)",
  listener: sni ? "sni" : "one certificate",
  handshakes: total,
  per_second: Math.round(total / seconds),
  gateway_cpu_ms_per_handshake: Number((cpuMs / total).toFixed(3)),
}));
