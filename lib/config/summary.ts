/**
 * What a configuration will do, as short lines: printed by `wsgate check` and at start-up so
 * an operator sees where it listens and where it forwards. Pure.
 */
import { formatAddr } from "../net/address.ts";
import { formatDuration } from "./duration.ts";
import type { Config, FixedAnswer } from "./schema.ts";
import { formatHashKey } from "./hash_key.ts";

export function describeConfig(config: Config): string[] {
  const lines: string[] = [];
  for (const server of config.servers) {
    const hosts = server.hosts?.join(",") ?? "*";
    const listen = server.listen.map(formatAddr).join(", ");
    const tls = server.acme ? ` (tls: acme ${server.acme.domains.join(",")})` : server.tls ? " (tls)" : "";
    lines.push(`server ${listen}${tls} hosts=${hosts}`);
    for (const route of server.routes) {
      const flags = [
        route.rewrite?.strip ? "strip_prefix" : "",
        route.rewrite?.add ? `add_prefix=${route.rewrite.add}` : "",
        route.websocket_only ? "websocket_only" : "",
        route.idle_timeout > 0 ? `idle_timeout=${formatDuration(route.idle_timeout)}` : "",
        route.auth ? `auth=${Object.keys(route.auth).join("+")}` : "",
      ].filter(Boolean).join(" ");
      const target = route.answer ? describeAnswer(route.answer) : route.upstream;
      lines.push(`  route ${route.path} -> ${target}${flags ? ` (${flags})` : ""}`);
    }
  }
  for (const group of config.upstreams.values()) {
    const servers = group.servers.map((s) =>
      [
        s.address,
        s.weight === 1 ? "" : `weight=${s.weight}`,
        s.max_conns > 0 ? `max_conns=${s.max_conns}` : "",
        s.backup ? "backup" : "",
        s.down ? "down" : "",
      ].filter(Boolean).join(" ")
    );
    // Found through DNS when the gateway runs; `check` does not look them up.
    for (const d of group.discovered) {
      servers.push(`${d.type === "srv" ? "srv" : "resolve"}:${d.source}${d.options.backup ? " backup" : ""}`);
    }
    const check = group.health_check;
    const policy = [
      group.balance,
      group.hash_key ? formatHashKey(group.hash_key) : "",
      check ? `health_check=${check.type} every ${formatDuration(check.interval)}` : "",
    ].filter(Boolean).join(" ");
    lines.push(`upstream ${group.name} (${policy}): ${servers.join(", ")}`);
  }
  return lines;
}

/** `redirect 308 https://{host}{uri}` or `respond 200`. */
export function describeAnswer(answer: FixedAnswer): string {
  return answer.kind === "redirect"
    ? `redirect ${answer.status} ${answer.to.source}`
    : `respond ${answer.status}`;
}
