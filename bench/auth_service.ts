/**
 * The forward-auth service of the benchmark's wsgate-forward targets: every request is allowed
 * (200 + X-User-Id), at Bun's speed, so the figure is wsgate's subrequest cost, not the service's.
 *
 *   bun bench/auth_service.ts PORT
 */
import process from "node:process";
import { bun } from "./bun_api.ts";

const port = Number(process.argv[2]);
bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch: () => new Response(null, { headers: { "X-User-Id": "bench" } }),
});
console.log(`auth service listening on 127.0.0.1:${port}`);
