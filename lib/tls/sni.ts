/** SNI (pure): which of a listener's certificates a TLS client asking for `name` gets. */
import { matchesHostPattern } from "../net/host_pattern.ts";

/** The first certificate with a server name matching `name`; undefined = the listener's default. */
export function certificateFor<T extends { serverNames?: readonly string[] }>(
  certs: readonly T[],
  name: string,
): T | undefined {
  return certs.find((cert) => cert.serverNames?.some((pattern) => matchesHostPattern(pattern, name)));
}
