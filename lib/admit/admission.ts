/**
 * ADMIT: what happens to a connection before its request head is read, and once it is routed.
 * Before: on a PROXY-protocol listener the header is read (so the real client address drives
 * everything after), then the connection and rate limits are applied. A client over a limit
 * still has its head read (briefly), so that it gets a clean 503/429 instead of a reset.
 * After routing: the route's access lists (403).
 */
import { HttpError } from "../errors.ts";
import { checkAccess } from "./access.ts";
import { receiveProxyHeader } from "./proxy_header.ts";
import { clientIpOf, formatAddr } from "../net/address.ts";
import { getHeader } from "../http/headers.ts";
import type { Limits } from "./limits.ts";
import type { Config, RouteConfig } from "../config/schema.ts";
import type { RequestHead } from "../http/head.ts";
import type { Logger } from "../observe/log.ts";
import type { Conn } from "../runtime/types.ts";

export interface AdmitContext {
  config: Config;
  limits: Limits;
  logger: Logger;
  /** The listener expects a PROXY protocol header first. */
  proxyProtocol: boolean;
}

export interface Admitted {
  /** The connection, reporting the real client's addresses when a PROXY header stated them. */
  client: Conn;
  /** The client's IP (IPv4-mapped written as IPv4); undefined for a unix-socket client. */
  clientIp: string | undefined;
  /** Set when a limit refuses the connection: answer it once the head is read. */
  refusal?: HttpError;
  /** Gives back the connection slot; call once when the connection ends (a no-op when refused). */
  release(): void;
}

/** null: the connection was closed here (bad or untrusted PROXY header) and logged. A promise
 * only on a PROXY-protocol listener, which reads the header first: a connection elsewhere is
 * admitted without a promise and an await more per handshake. */
export function admitClient(
  accepted: Conn,
  id: number,
  ctx: AdmitContext,
): Admitted | null | Promise<Admitted | null> {
  if (!ctx.proxyProtocol) return admit(accepted, ctx);
  return receiveProxyHeader(accepted, {
    trusted: ctx.config.trusted_proxies,
    timeoutMs: ctx.config.limits.handshake_timeout,
  }).then((result) => {
    if (!("rejected" in result)) return admit(result, ctx);
    ctx.logger.log("warn", "proxy_rejected", {
      id,
      peer: formatAddr(accepted.remoteAddr),
      reason: result.rejected,
    });
    accepted.close();
    return null;
  });
}

/** The connection and rate limits, for the client `client` reports (a PROXY header's view). */
function admit(client: Conn, ctx: AdmitContext): Admitted {
  const clientIp = clientIpOf(client.remoteAddr);
  const refused = ctx.limits.count(clientIp, Date.now());
  if (refused === null) return new AdmittedClient(client, clientIp, ctx.limits);
  const headers: [string, string][] = [["Retry-After", String(refused.retryAfterSeconds)]];
  return new AdmittedClient(
    client,
    clientIp,
    undefined,
    new HttpError(refused.status, refused.reason, { headers }),
  );
}

/** Admitted, counted in `limits` (none when refused): its own connection slot. An object with a
 * method, not a closure, and no Slot of its own: a tunnel holds it for days (memory per idle
 * tunnel). */
class AdmittedClient implements Admitted {
  #limits: Limits | undefined;
  readonly refusal?: HttpError;

  constructor(
    readonly client: Conn,
    readonly clientIp: string | undefined,
    limits?: Limits,
    refusal?: HttpError,
  ) {
    this.#limits = limits;
    if (refusal) this.refusal = refusal;
  }

  release(): void {
    const limits = this.#limits;
    this.#limits = undefined;
    limits?.free(this.clientIp);
  }
}

/** Throws 403 when the route's allow/deny/allow_origins lists keep this client out. */
export function checkRouteAccess(
  route: RouteConfig,
  clientIp: string | undefined,
  request: RequestHead,
): void {
  const refused = checkAccess(route, { ip: clientIp, origin: getHeader(request.headers, "origin") });
  if (refused) throw new HttpError(403, refused);
}
