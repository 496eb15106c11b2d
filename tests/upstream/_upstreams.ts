/** Test fixtures for upstream groups: a validated group config from a few raw keys, and a clock. */
import { validateConfig } from "../../lib/config/validate.ts";
import type { Config, UpstreamConfig } from "../../lib/config/schema.ts";
import type { Fields, Level, Logger } from "../../lib/observe/log.ts";

/** A validated config with the upstream group "app" built from `servers` and other raw keys. */
export function testConfig(servers: unknown[], keys: Record<string, unknown> = {}): Config {
  const raw = {
    servers: [{ listen: "127.0.0.1:0", routes: [{ path: "/", upstream: "app" }] }],
    upstreams: { app: { servers, ...keys } },
    limits: { handshake_timeout: "1s" },
  };
  const { config, issues } = validateConfig(raw, { source: "test", baseDir: "/" });
  if (!config) throw new Error(`invalid test config: ${JSON.stringify(issues)}`);
  return config;
}

/** The group "app" of testConfig(). */
export function groupConfig(servers: unknown[], keys: Record<string, unknown> = {}): UpstreamConfig {
  return testConfig(servers, keys).upstreams.get("app")!;
}

/** A logger that keeps its records for the test to read. */
export function recordingLogger(): Logger & { records: { level: Level; event: string; fields: Fields }[] } {
  const records: { level: Level; event: string; fields: Fields }[] = [];
  return {
    records,
    log: (level, event, fields = {}) => records.push({ level, event, fields }),
    flush: () => {},
  };
}
