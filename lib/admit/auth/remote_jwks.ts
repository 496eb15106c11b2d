/**
 * A JWKS fetched from `jwks_url` (HTTPS only): fetched when the route's auth is built, refreshed
 * in the background after `jwks_cache`, and refetched when a token names a kid the set lacks, at
 * most every `jwks_refetch` (a stream of made-up kids must not become a stream of fetches). A
 * failed fetch keeps the last good set: an IdP that is down does not lock everyone out.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { jwksProblem, type RemoteJwksConfig } from "../../config/auth.ts";
import { describeError } from "../../errors.ts";
import { httpGet } from "./http_get.ts";
import type { Logger } from "../../observe/log.ts";
import type { Net } from "../../runtime/types.ts";

const FETCH_TIMEOUT_MS = 5_000;
/** A JWKS is a handful of keys; anything this big is a mistake or an attack. */
const MAX_JWKS_BYTES = 256 * 1024;
const MAX_KEYS = 64;

export class JwksUnavailable extends Error {}

interface KeySet {
  getKey: JWTVerifyGetKey;
  kids: ReadonlySet<string>;
  fetchedAt: number;
}

export class RemoteJwks {
  #set: KeySet | undefined;
  /** When the last fetch started (clock ms); -Infinity before the first. */
  #lastAttempt = -Infinity;
  #inflight: Promise<void> | undefined;

  constructor(
    /** Replaced on reload (same URL and CA: the set is kept, the timings may change). */
    public config: RemoteJwksConfig,
    readonly deps: { net: Net; logger: Logger; now?: () => number },
  ) {}

  get #now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /** Starts the first fetch without waiting for it. */
  prefetch(): void {
    this.#refresh().catch(() => {});
  }

  /** The key set to verify a token with this kid; JwksUnavailable when none was ever fetched. */
  async keys(kid: string | undefined): Promise<JWTVerifyGetKey> {
    const now = this.#now;
    const set = this.#set;
    const unknownKid = set !== undefined && kid !== undefined && !set.kids.has(kid);
    const { cache, refetch } = this.config;
    const stale = set !== undefined && now - set.fetchedAt >= cache;
    if (set === undefined || unknownKid) {
      // A fetch under way may bring the set or the kid: wait for it. Otherwise fetch again, at
      // most every jwks_refetch, also while there is no set at all: an IdP that is down gets
      // one attempt per interval, not one per request.
      if (this.#inflight) await this.#inflight.catch(() => {});
      else if (now - this.#lastAttempt >= refetch) await this.#refresh().catch(() => {});
    } else if (stale && now - this.#lastAttempt >= refetch) this.#refresh().catch(() => {});
    if (this.#set === undefined) throw new JwksUnavailable(`JWKS from ${this.config.url} unavailable`);
    return this.#set.getKey;
  }

  #refresh(): Promise<void> {
    this.#inflight ??= this.#fetch().finally(() => this.#inflight = undefined);
    return this.#inflight;
  }

  async #fetch(): Promise<void> {
    this.#lastAttempt = this.#now;
    const { config, deps } = this;
    try {
      const answer = await httpGet(deps.net, {
        addr: config.addr,
        tls: { serverName: config.hostname, verify: true, ...(config.ca ? { caCerts: [config.ca] } : {}) },
        host: config.host,
        target: config.target,
        headers: [{ name: "Accept", value: "application/json" }],
        timeoutMs: FETCH_TIMEOUT_MS,
        maxHeadBytes: 16_384,
        maxBodyBytes: MAX_JWKS_BYTES,
      });
      if (answer.status !== 200) throw new Error(`answered ${answer.status}`);
      const text = new TextDecoder().decode(answer.body);
      const problem = jwksProblem(text);
      if (problem) throw new Error(`the document ${problem}`);
      const jwks = JSON.parse(text) as JSONWebKeySet;
      if (jwks.keys.length > MAX_KEYS) throw new Error(`${jwks.keys.length} keys (at most ${MAX_KEYS})`);
      const kids = new Set(jwks.keys.flatMap((k) => typeof k.kid === "string" ? [k.kid] : []));
      this.#set = { getKey: createLocalJWKSet(jwks), kids, fetchedAt: this.#now };
      deps.logger.log("info", "jwks_fetched", { url: config.url, keys: jwks.keys.length });
    } catch (err) {
      deps.logger.log("warn", "jwks_fetch_failed", {
        url: config.url,
        reason: describeError(err),
        kept: this.#set !== undefined,
      });
      throw err;
    }
  }
}
