/**
 * The benchmark's WebSocket backend: echoes every message, run with `bun` (Bun.serve's built-in
 * WebSocket server is uWebSockets, fast enough not to be what is measured).
 *
 *   bun bench/echo_server.ts PORT
 */
import process from "node:process";
import { bun } from "./bun_api.ts";

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error("usage: bun bench/echo_server.ts PORT");
  process.exit(2);
}

bun.serve({
  hostname: "127.0.0.1",
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
console.log(`echo backend listening on 127.0.0.1:${port}`);
