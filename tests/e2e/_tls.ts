/** TLS listeners for e2e tests: both kinds, with the fixture certificates. */
import { CERTS, type Gateway, startGateway, toYaml } from "./_harness.ts";

/** The two kinds of TLS listener: one certificate (Bun.listen), several chosen by SNI (node:tls on Bun). */
export const LISTENERS = {
  "one certificate": { cert: "localhost.pem", key: "localhost-key.pem" },
  "several, by SNI": [
    { cert: "backend.pem", key: "backend-key.pem", hosts: ["backend.test"] },
    { cert: "localhost.pem", key: "localhost-key.pem" },
  ],
};

/** The certificate files LISTENERS name, for GatewayOptions.files. */
export function tlsFiles(): Record<string, string> {
  return Object.fromEntries(
    ["localhost.pem", "localhost-key.pem", "backend.pem", "backend-key.pem"].map((f) => [
      f,
      Deno.readTextFileSync(`${CERTS}${f}`),
    ]),
  );
}

/** A gateway with one TLS listener (`tls` as in LISTENERS) on `listen`, routing everything to `backend`. */
export function tlsGateway(
  tls: unknown,
  backend: string,
  limits: Record<string, unknown> = {},
  listen = "127.0.0.1:0",
): Promise<Gateway> {
  return startGateway({
    files: tlsFiles(),
    config: toYaml({
      servers: [{ listen: [listen], tls, routes: [{ path: "/", upstream: "app" }] }],
      upstreams: { app: { servers: [backend] } },
      limits,
    }),
  });
}
