/**
 * The benchmark's WebSocket backend: echoes every message, run with `bun` (Bun.serve's built-in
 * WebSocket server is uWebSockets, fast enough not to be what is measured).
 *
 *   bun bench/echo_server.ts PORT [HOST...]      (HOST: loopback addresses, default 127.0.0.1)
 */
import process from "node:process";
import { bun } from "./bun_api.ts";

const port = Number(process.argv[2]);
const hosts = process.argv.length > 3 ? process.argv.slice(3) : ["127.0.0.1"];
if (!Number.isInteger(port) || port <= 0 || !hosts.every((h) => h.startsWith("127."))) {
  console.error("usage: bun bench/echo_server.ts PORT [HOST...]  (loopback addresses only)");
  process.exit(2);
}

// One server per address: the proxies reach it on several, one 4-tuple space each (growth scenario).
for (const hostname of hosts) serve(hostname);
console.log(`echo backend listening on ${hosts.map((h) => `${h}:${port}`).join(" ")}`);

function serve(hostname: string): void {
  bun.serve({
    hostname,
    port,
    fetch(request, server) {
      if (server.upgrade(request)) return undefined;
      return new Response("websocket echo backend\n");
    },
    websocket: {
      message(ws, message) {
        ws.send(message);
      },
      // Idle tunnels must stay open for the whole idle scenario; no server pings to answer.
      idleTimeout: 960,
      sendPings: false,
      perMessageDeflate: false,
      maxPayloadLength: 16 * 1024 * 1024,
      backpressureLimit: 64 * 1024 * 1024,
    },
  });
}
