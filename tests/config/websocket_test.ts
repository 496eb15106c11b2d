/** The WebSocket-aware tunnel keys: route `websocket: { ... }` and top-level `close_spread`. */
import assert from "node:assert/strict";
import { formatPath, validateConfig } from "../../lib/config/validate.ts";

const OPTIONS = { source: "test.yaml", baseDir: "/etc/wsgate" };

function raw(route: Record<string, unknown>, top: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    servers: [{ listen: "127.0.0.1:8020", routes: [{ path: "/", upstream: "app", ...route }] }],
    upstreams: { app: { servers: ["127.0.0.1:8080"] } },
    ...top,
  };
}

Deno.test("websocket keys are read, with their defaults", () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, unknown, unknown][] = [
    ["absent: raw tunnel", {}, {}, undefined, undefined],
    ["track_frames false: raw tunnel", { websocket: { track_frames: false } }, {}, undefined, undefined],
    ["track_frames: default keepalive", { websocket: { track_frames: true } }, {}, {
      ping_interval: 30_000,
      ping_timeout: 10_000,
    }, undefined],
    [
      "every key",
      { websocket: { track_frames: true, ping_interval: "5s", ping_timeout: "1500ms" } },
      { close_spread: "10s" },
      { ping_interval: 5_000, ping_timeout: 1_500 },
      10_000,
    ],
    ["keepalive off", { websocket: { track_frames: true, ping_interval: 0 } }, { close_spread: 0 }, {
      ping_interval: 0,
      ping_timeout: 10_000,
    }, undefined],
  ];
  for (const [name, route, top, websocket, spread] of cases) {
    const { config, issues } = validateConfig(raw(route, top), OPTIONS);
    assert.deepEqual(issues, [], name);
    assert.deepEqual(config?.servers[0]?.routes[0]?.websocket, websocket, name);
    assert.equal(config?.close_spread, spread, name);
  }
});

Deno.test("websocket keys: precise errors, all at once", () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string[]][] = [
    ["not a mapping", { websocket: true }, {}, [
      "servers[0].routes[0].websocket: must be a mapping (key: value)",
    ]],
    ["misspelt key", { websocket: { track_frame: true } }, {}, [
      'servers[0].routes[0].websocket.track_frame: unknown key "track_frame"; did you mean "track_frames"?',
    ]],
    ["track_frames not a boolean", { websocket: { track_frames: "yes" } }, {}, [
      "servers[0].routes[0].websocket.track_frames: must be true or false",
    ]],
    ["pings without tracking", { websocket: { ping_interval: "10s", ping_timeout: "1s" } }, {}, [
      "servers[0].routes[0].websocket.ping_interval: needs track_frames: true " +
      "(wsgate can only ping between frames it tracks)",
      "servers[0].routes[0].websocket.ping_timeout: needs track_frames: true " +
      "(wsgate can only ping between frames it tracks)",
    ]],
    ["bad durations", { websocket: { track_frames: true, ping_interval: "often", ping_timeout: 0 } }, {}, [
      'servers[0].routes[0].websocket.ping_interval: must be a duration like 250ms, 30s, 5m, 2h, 1d (cannot read "often")',
      "servers[0].routes[0].websocket.ping_timeout: must be greater than 0",
    ]],
    [
      "timeout without keepalive",
      { websocket: { track_frames: true, ping_interval: 0, ping_timeout: "5s" } },
      {},
      [
        "servers[0].routes[0].websocket.ping_timeout: has no effect with ping_interval: 0 (keepalive off)",
      ],
    ],
    ["close_spread not a duration", {}, { close_spread: "soon" }, [
      'close_spread: must be a duration like 250ms, 30s, 5m, 2h, 1d (cannot read "soon")',
    ]],
    ["close_spread past shutdown_timeout", {}, { close_spread: "30s" }, [
      "close_spread: must be shorter than shutdown_timeout (30s), or tunnels still waiting for their " +
      "Close are cut at the timeout",
    ]],
    ["close_spread with shutdown_timeout 0", {}, { close_spread: "1s", shutdown_timeout: 0 }, [
      "close_spread: must be shorter than shutdown_timeout (0s), or tunnels still waiting for their " +
      "Close are cut at the timeout",
    ]],
  ];
  for (const [name, route, top, expected] of cases) {
    const { config, issues } = validateConfig(raw(route, top), OPTIONS);
    assert.equal(config, undefined, name);
    assert.deepEqual(issues.map((i) => `${formatPath(i.path)}: ${i.message}`), expected, name);
  }
});
