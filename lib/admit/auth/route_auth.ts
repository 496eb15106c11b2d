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
import { RemoteJwks } from "./remote_jwks.ts";
import { describeSource, extractToken, replaceHeaders, stripTokens } from "./token.ts";

/** The request as the upstream gets it, and when its token stops being valid. */
export interface Authorized {
  head: RequestHead;
  /** ms since the epoch; set when the route has close_at_expiry and the token an exp. */
  expiresAt?: number;
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
  }

  /** The request to send upstream, or an HttpError (401, a relayed denial, 502, 504). */
  async authenticate(head: RequestHead, info: ForwardRequestInfo, metrics: Metrics): Promise<Authorized> {
    const refuse = (result: Parameters<Metrics["auth"]>[1], err: HttpError) => {
      metrics.auth(this.#route, result);
      return err;
    };
    let upstreamHead = head;
    let set: Header[] = [];
    let expiresAt: number | undefined;
    const jwt = this.#jwt;
    if (jwt) {
      const { config } = jwt;
      const found = extractToken(head, config.token_from, { strip: config.strip_token });
      if ("missing" in found) {
        const where = config.token_from.map(describeSource).join(", ");
        throw refuse(
          "missing",
          new HttpError(401, `jwt: no token (looked in ${where})`, { headers: NO_TOKEN }),
        );
      }
      if ("ambiguous" in found) {
        throw refuse("invalid", new HttpError(401, `jwt: ${found.ambiguous}`, { headers: INVALID_TOKEN }));
      }
      const verdict = await jwt.verify(found.token);
      if (!verdict.ok) {
        const status = verdict.result === "error" ? 502 : 401;
        const headers = verdict.result === "error" ? [] : INVALID_TOKEN;
        throw refuse(
          verdict.result,
          new HttpError(status, `jwt: ${verdict.reason} (${found.source})`, { headers }),
        );
      }
      const mapped = claimHeaders(verdict.claims, config.claims_to_headers);
      this.#warnSkipped(mapped.skipped);
      set = mapped.headers;
      if (config.close_at_expiry && verdict.expiresAt !== undefined) expiresAt = verdict.expiresAt;
      if (config.strip_token) upstreamHead = stripTokens(head, config.token_from);
    }
    const forward = this.#forward;
    if (forward) {
      const verdict = await forward.check(head, info);
      if (!verdict.ok && verdict.result === "denied") {
        throw refuse(
          "denied",
          new HttpError(verdict.status, `forward auth: denied (${verdict.status})`, {
            response: verdict.response,
          }),
        );
      }
      if (!verdict.ok) throw refuse("error", new HttpError(verdict.status, verdict.reason));
      set = [...set, ...verdict.headers];
    }
    metrics.auth(this.#route, "ok");
    const names = [
      ...(jwt?.config.claims_to_headers.map(([name]) => name) ?? []),
      ...(forward?.config.copy_headers ?? []),
    ];
    const headers = replaceHeaders(upstreamHead.headers, names, set);
    return { head: { ...upstreamHead, headers }, ...(expiresAt !== undefined && { expiresAt }) };
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
