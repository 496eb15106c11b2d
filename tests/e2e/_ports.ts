/**
 * Ports that must be known before their server starts (pebble's HTTP-01 target is the gateway's
 * plain listener; dnsmasq's port goes into pebble's configuration). Picked below the kernel's
 * ephemeral range: a port found free by binding port 0 is in that range, and any outgoing
 * connection (a readiness probe, pebble's own) can take it as its source port before the server
 * binds it, which then fails with EADDRINUSE (seen in the ACME tests).
 */

/** The first port the kernel hands out for outgoing connections (Linux; 32768 elsewhere). */
function ephemeralLow(): number {
  try {
    const range = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range");
    const low = Number(range.trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : 32768;
  } catch {
    return 32768;
  }
}

const LOWEST = 10_000;

function isFree(port: number, udp: boolean): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    if (udp) Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** A port on 127.0.0.1 free for TCP (and UDP with `udp`) now, that no outgoing connection takes. */
export function freePort(options: { udp?: boolean } = {}): number {
  const high = ephemeralLow();
  if (high - LOWEST < 1000) throw new Error(`ephemeral ports start at ${high}: no room below them`);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST));
    if (isFree(port, options.udp ?? false)) return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${high}`);
}
