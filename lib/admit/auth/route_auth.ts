/**
 * AUTH (DESIGN §3b): what a route with `auth` asks of a request before any upstream is contacted.
 * jwt first (token from its sources, verified, claims mapped onto headers, token stripped), then
 * forward (the auth service's verdict, copy_headers). Both must pass. A refusal is an HttpError
 * whose message is the reject record's reason: fixed words, never the token.
 * One RouteAuth per route and configuration generation; remote JWKS caches outlive reloads.
 */
import { HttpError } from "../../errors.ts";
import type { Config, RouteConfig } from "../../config/schema.ts";
import type { RemoteJwksConfig } from "../../config/auth.ts";
import type { RequestHead } from "../../http/head.ts";
import type { Header } from "../../http/headers.ts";
import type { Logger } from "../../observe/log.ts";
import type { Metrics } from "../../observe/metrics.ts";
import type { Net } from "../../runtime/types.ts";
import { claimHeaders } from "./claims.ts";
import { ForwardAuth, type ForwardRequestInfo } from "./forward.ts";
import { JwtVerifier } from "./jwt.ts";
import type { JWTPayload } from "jose";
import { RemoteJwks } from "./remote_jwks.ts";
import { describeSource, extractToken, replaceHeaders, stripTokens } from "./token.ts";

/** The request as the upstream gets it, what its token said, and when the token stops being valid. */
export interface Authorized {
  /** Without the token where strip_token says so, and without any value the client sent under
   * the names in `headers`. */
  head: RequestHead;
  /** Set by the gateway (claims_to_headers, copy_headers); the caller adds them after the
   * hop-by-hop removal, so a client's Connection header cannot take them away. */
  headers: Header[];
  /** ms since the epoch; set when the route has close_at_expiry and the token an exp. */
  expiresAt?: number;
  /** The verified token's claims (routes with jwt), for {jwt.CLAIM} placeholders. */
  claims?: Readonly<Record<string, unknown>>;
}

type AuthResult = Parameters<Metrics["auth"]>[1];

/** A refusal, with the result it is counted as in wsgate_auth_total. */
class AuthRefusal extends HttpError {
  constructor(
    readonly result: Exclude<AuthResult, "ok">,
    status: number,
    message: string,
    options: ConstructorParameters<typeof HttpError>[2] = {},
  ) {
    super(status, message, options);
  }
}

const NO_TOKEN: [string, string][] = [["WWW-Authenticate", 'Bearer realm="wsgate"']];
const INVALID_TOKEN: [string, string][] = [["WWW-Authenticate", 'Bearer error="invalid_token"']];

export class RouteAuth {
  readonly #route: string;
  readonly #jwt: JwtVerifier | undefined;
  readonly #forward: ForwardAuth | undefined;
  readonly #logger: Logger;
  /** Headers whose claim could not be sent, already logged once. */
  readonly #warned = new Set<string>();
  /** Headers the client may not set: claims_to_headers and copy_headers (absent values too). */
  readonly #replaced: string[];

  constructor(
    route: RouteConfig,
    deps: { net: Net; logger: Logger; maxHeadBytes: number; remote?: RemoteJwks },
  ) {
    const auth = route.auth!;
    this.#route = route.path;
    this.#logger = deps.logger;
    if (auth.jwt) {
      this.#jwt = new JwtVerifier(auth.jwt, {
        logger: deps.logger,
        route: route.path,
        ...(deps.remote && { remote: deps.remote }),
      });
    }
    if (auth.forward) this.#forward = new ForwardAuth(auth.forward, deps);
    this.#replaced = [
      ...(auth.jwt?.claims_to_headers.map(([name]) => name) ?? []),
      ...(auth.forward?.copy_headers ?? []),
    ];
  }

  /** The request to send upstream, or an HttpError (401, a relayed denial, 502, 504). */
  async authenticate(head: RequestHead, info: ForwardRequestInfo, metrics: Metrics): Promise<Authorized> {
    try {
      const jwt = this.#jwt ? await this.#checkJwt(this.#jwt, head) : undefined;
      // The auth service sees the credentials as sent (strip_token is for the upstream), never
      // the client's values for headers the gateway sets, and the claims jwt verified (jwt first).
      const copied = this.#forward
        ? await this.#checkForward(this.#forward, this.#withoutReplaced(head), info, jwt?.headers ?? [])
        : [];
      metrics.auth(this.#route, "ok");
      return {
        head: this.#withoutReplaced(jwt?.head ?? head),
        headers: [...jwt?.headers ?? [], ...copied],
        ...(jwt?.expiresAt !== undefined && { expiresAt: jwt.expiresAt }),
        ...(jwt && { claims: jwt.claims }),
      };
    } catch (err) {
      if (err instanceof AuthRefusal) metrics.auth(this.#route, err.result);
      throw err;
    }
  }

  /** The token found, verified, its claims as headers, and the request without it (strip_token). */
  async #checkJwt(
    jwt: JwtVerifier,
    head: RequestHead,
  ): Promise<{ head: RequestHead; headers: Header[]; claims: JWTPayload; expiresAt?: number }> {
    const { config } = jwt;
    const found = extractToken(head, config.token_from, { strip: config.strip_token });
    if ("missing" in found) {
      const where = config.token_from.map(describeSource).join(", ");
      throw new AuthRefusal("missing", 401, `jwt: no token (looked in ${where})`, { headers: NO_TOKEN });
    }
    if ("ambiguous" in found) {
      throw new AuthRefusal("invalid", 401, `jwt: ${found.ambiguous}`, { headers: INVALID_TOKEN });
    }
    const verdict = await jwt.verify(found.token);
    if (!verdict.ok) {
      const reason = `jwt: ${verdict.reason} (${found.source})`;
      if (verdict.result === "error") throw new AuthRefusal("error", 502, reason);
      throw new AuthRefusal(verdict.result, 401, reason, { headers: INVALID_TOKEN });
    }
    const mapped = claimHeaders(verdict.claims, config.claims_to_headers);
    this.#warnSkipped(mapped.skipped);
    return {
      head: config.strip_token ? stripTokens(head, config.token_from) : head,
      headers: mapped.headers,
      claims: verdict.claims,
      ...(config.close_at_expiry && verdict.expiresAt !== undefined && { expiresAt: verdict.expiresAt }),
    };
  }

  #withoutReplaced(head: RequestHead): RequestHead {
    return { ...head, headers: replaceHeaders(head.headers, this.#replaced, []) };
  }

  /** The auth service's verdict: copy_headers of a 2xx, else a refusal. */
  async #checkForward(
    forward: ForwardAuth,
    head: RequestHead,
    info: ForwardRequestInfo,
    claimHeaders: readonly Header[],
  ): Promise<Header[]> {
    const verdict = await forward.check(head, info, claimHeaders);
    if (verdict.ok) return verdict.headers;
    if (verdict.result === "error") throw new AuthRefusal("error", verdict.status, verdict.reason);
    const reason = `forward auth: denied (${verdict.status})`;
    throw new AuthRefusal("denied", verdict.status, reason, { response: verdict.response });
  }

  #warnSkipped(skipped: string[]): void {
    for (const header of skipped) {
      if (this.#warned.has(header)) continue;
      this.#warned.add(header);
      this.#logger.log("warn", "claim_not_sent", {
        route: this.#route,
        header,
        reason: "empty, over 8 KiB, or with a control character",
      });
    }
  }
}

/**
 * The RouteAuth of every route of one configuration, and the query parameters to redact from
 * every logged path (those of any route's token_from: a path is logged before it is routed too).
 */
export class AuthRegistry {
  readonly #routes = new Map<RouteConfig, RouteAuth>();
  /** Remote JWKS by URL and CA, handed on to the next generation (the last good keys survive a reload). */
  readonly remotes = new Map<string, RemoteJwks>();
  readonly redactNames: ReadonlySet<string>;

  constructor(config: Config, deps: { net: Net; logger: Logger; previous?: AuthRegistry }) {
    const names = new Set<string>();
    for (const server of config.servers) {
      for (const route of server.routes) {
        if (!route.auth) continue;
        for (const source of route.auth.jwt?.token_from ?? []) {
          if (source.from === "query") names.add(source.name);
        }
        const remoteConfig = route.auth.jwt?.jwks_url;
        const remote = remoteConfig && this.#remote(remoteConfig, deps);
        this.#routes.set(
          route,
          new RouteAuth(route, {
            net: deps.net,
            logger: deps.logger,
            maxHeadBytes: config.limits.max_head_bytes,
            ...(remote && { remote }),
          }),
        );
      }
    }
    this.redactNames = names;
  }

  for(route: RouteConfig): RouteAuth | undefined {
    return this.#routes.get(route);
  }

  #remote(config: RemoteJwksConfig, deps: { net: Net; logger: Logger; previous?: AuthRegistry }): RemoteJwks {
    const key = `${config.url}\n${config.ca ?? ""}`;
    let remote = this.remotes.get(key) ?? deps.previous?.remotes.get(key);
    if (remote) remote.config = config;
    else {
      remote = new RemoteJwks(config, deps);
      remote.prefetch();
    }
    this.remotes.set(key, remote);
    return remote;
  }
}
