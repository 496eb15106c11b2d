/**
 * wsgate-bin with `auth` on its route, for handshakes/s against the same binary without it:
 * jwt with an RS256 or an ES256 PEM public key (a token signed once per run by jose, sent by the
 * load client as `Authorization: Bearer`), and forward-auth to a local Bun service that allows
 * everything, with its verdict cache off and on.
 */
import { exportSPKI, generateKeyPair, SignJWT } from "jose";
import { type TargetName, TARGETS } from "./args.ts";
import {
  frozenBinary,
  launch,
  type Running,
  type Target,
  type TargetContext,
  wsgateArgs,
} from "./targets.ts";
import { waitForPort } from "./procs.ts";

const SERVICE_START_MS = 20_000;

/** One key and token per algorithm and run. */
const keys = new Map<string, Promise<{ pem: string; token: string }>>();

function keyFor(ctx: TargetContext, alg: "RS256" | "ES256"): Promise<{ pem: string; token: string }> {
  let key = keys.get(alg);
  if (!key) {
    key = (async () => {
      const pair = await generateKeyPair(alg);
      const pem = `${ctx.dir}/auth-${alg}.pem`;
      await Deno.writeTextFile(pem, await exportSPKI(pair.publicKey));
      const token = await new SignJWT({ sub: "bench" }).setProtectedHeader({ alg })
        .setExpirationTime("1d").sign(pair.privateKey);
      return { pem, token };
    })();
    keys.set(alg, key);
  }
  return key;
}

let service: Promise<void> | undefined;

/** The auth service, started once per run (stopped with everything else at the end). */
function authService(ctx: TargetContext, port: number): Promise<void> {
  service ??= (async () => {
    const proc = ctx.procs.spawn("auth-service", [
      "bun",
      `${ctx.repoRoot}/bench/auth_service.ts`,
      String(port),
    ], {
      logPath: `${ctx.dir}/auth-service.log`,
    });
    await waitForPort(port, proc, SERVICE_START_MS);
  })();
  return service;
}

function authTarget(
  name: TargetName,
  port: number,
  bin: string,
  setup: (ctx: TargetContext) => Promise<{ route: string; loadArgs?: string[] }>,
): Target {
  return {
    name,
    port,
    async start(ctx): Promise<Running> {
      const frozen = await frozenBinary(ctx, bin, "wsgate-bin");
      const { route, loadArgs } = await setup(ctx);
      const argv = [frozen, ...await wsgateArgs(ctx, port, { route })];
      const running = await launch(ctx, { name, port, argv, cwd: ctx.repoRoot });
      return { ...running, ...(loadArgs && { loadArgs }) };
    },
  };
}

export function authTargets(basePort: number, bin: string): Target[] {
  const servicePort = basePort + TARGETS.length;
  const jwt = (alg: "RS256" | "ES256") => async (ctx: TargetContext) => {
    const { pem, token } = await keyFor(ctx, alg);
    return {
      route: `auth: { jwt: { keys: ["${pem}"], algorithms: [${alg}] } }`,
      loadArgs: ["--header", `Authorization: Bearer ${token}`],
    };
  };
  const forward = (cache: string) => async (ctx: TargetContext) => {
    await authService(ctx, servicePort);
    return {
      route:
        `auth: { forward: { url: "http://127.0.0.1:${servicePort}/check", copy_headers: [X-User-Id], cache: ${cache} } }`,
      loadArgs: ["--header", "Authorization: Bearer opaque-session-token"],
    };
  };
  return [
    authTarget("wsgate-jwt-rs256", basePort + 12, bin, jwt("RS256")),
    authTarget("wsgate-jwt-es256", basePort + 13, bin, jwt("ES256")),
    authTarget("wsgate-forward", basePort + 14, bin, forward("0s")),
    authTarget("wsgate-forward-cache", basePort + 15, bin, forward("1m")),
  ];
}
