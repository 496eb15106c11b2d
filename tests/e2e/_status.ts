/**
 * The gateway the status page tests look at: raw and tracked routes to one echo backend, a route
 * whose only server refuses connections (502s and failed attempts), nothing at "/" (404s).
 */
import { toYaml } from "./_harness.ts";

export function statusConfig(
  backend: string,
  options: { top?: Record<string, unknown>; listen?: string } = {},
): string {
  return toYaml({
    servers: [{
      listen: [options.listen ?? "127.0.0.1:0"],
      routes: [
        { path: "/raw/", upstream: "app" },
        { path: "/tracked/", upstream: "app", websocket: { track_frames: true } },
        { path: "/dead/", upstream: "dead" },
      ],
    }],
    upstreams: { app: { servers: [backend] }, dead: { servers: ["127.0.0.1:1"], retries: 0 } },
    admin: { listen: "127.0.0.1:0" },
    ...options.top,
  });
}
