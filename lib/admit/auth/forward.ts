/**
 * FORWARD AUTH (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth): a GET to the auth
 * service with the client's chosen headers and what the request was (X-Forwarded-Method, -Proto,
 * -Host, -Uri, -For, X-Original-URI). A 2xx lets the request through, with `copy_headers` taken
 * from the answer; any other answer below 500 goes back to the client as it is (status, headers,
 * body up to 64 KiB: a 302 to a login page works); unreachable or 5xx: 502; no answer within
 * `timeout`: 504. 2xx verdicts may be cached per credentials for `cache`.
 */
import { createHash } from "node:crypto";
import type { ForwardConfig } from "../../config/auth.ts";
import type { RequestHead } from "../../http/head.ts";
import { getHeader, getHeaderValues, type Header, withoutUnderscoreNames } from "../../http/headers.ts";
import { removeHopByHop } from "../../http/hop_headers.ts";
import { serializeResponseHead } from "../../http/head.ts";
import { concat } from "../../net/bytes.ts";
import { type HttpAnswer, httpGet, HttpGetError, IdleConnections } from "./http_get.ts";
import type { Net } from "../../runtime/types.ts";

/** A denial's body is relayed up to this size; a longer one is a broken auth service (502). */
export const MAX_DENIAL_BODY = 64 * 1024;
/** Cached verdicts at most; the oldest go first (a flood of distinct credentials cannot grow memory). */
export const MAX_CACHED = 10_000;

export type ForwardVerdict =
  | { ok: true; headers: Header[] }
  | { ok: false; result: "denied"; status: number; response: Uint8Array }
  | { ok: false; result: "error"; status: 502 | 504; reason: string };

/** What the gateway knows of the client's request besides its head. */
export interface ForwardRequestInfo {
  /** Undefined for a unix-socket client. */
  clientIp: string | undefined;
  tls: boolean;
  /** The client is a trusted proxy: its X-Forwarded-For is appended to. */
  trustForwarded: boolean;
}

/** Never passed from the client: framing, this hop, the handshake, and what the gateway sets itself. */
const NOT_PASSED =
  /^(host|content-length|transfer-encoding|upgrade|sec-websocket-.*|x-forwarded-.*|x-original-(uri|url|method)|forwarded|x-real-ip)$/;

/** The subrequest's headers (credentials, client address, method, host, URI) as a 32-byte digest:
 * a cached verdict costs the same memory however big the headers a client sends. */
function cacheKey(headers: readonly Header[]): string {
  const hash = createHash("sha256");
  for (const { name, value } of headers) hash.update(`${name.toLowerCase()}\0${value}\0`, "latin1");
  return hash.digest("base64");
}

export class ForwardAuth {
  readonly #cache = new Map<string, { headers: Header[]; until: number }>();
  /** Keep-alive connections to the auth service (each closed after a few idle seconds). */
  readonly #connections = new IdleConnections();

  constructor(
    readonly config: ForwardConfig,
    readonly deps: { net: Net; maxHeadBytes: number; now?: () => number },
  ) {}

  /** `gatewaySet`: headers the gateway set for this request (jwt's claims), sent whatever
   * pass_headers says and after the hop-by-hop removal. */
  async check(
    request: RequestHead,
    info: ForwardRequestInfo,
    gatewaySet: readonly Header[] = [],
  ): Promise<ForwardVerdict> {
    const config = this.config;
    const headers = this.#subrequestHeaders(request, info, gatewaySet);
    const now = (this.deps.now ?? Date.now)();
    const key = config.cache > 0 ? cacheKey(headers) : "";
    const hit = key === "" ? undefined : this.#cache.get(key);
    if (hit && hit.until > now) return { ok: true, headers: hit.headers };
    if (hit) this.#cache.delete(key);
    let answer: HttpAnswer;
    try {
      answer = await this.#ask(headers);
    } catch (err) {
      if (!(err instanceof HttpGetError)) throw err;
      const status = err.kind === "timeout" ? 504 : 502;
      return { ok: false, result: "error", status, reason: `auth service: ${err.message}` };
    }
    if (answer.status >= 500) {
      return { ok: false, result: "error", status: 502, reason: `auth service answered ${answer.status}` };
    }
    if (answer.status >= 300) {
      return { ok: false, result: "denied", status: answer.status, response: denial(answer, request.method) };
    }
    const copied = config.copy_headers.flatMap((name) =>
      getHeaderValues(answer.headers, name).map((value) => ({ name, value }))
    );
    if (key !== "") this.#remember(key, copied, now);
    return { ok: true, headers: copied };
  }

  #ask(headers: Header[]): Promise<HttpAnswer> {
    const { config, deps } = this;
    const tls = config.tls && {
      serverName: config.tls.serverName,
      verify: true,
      ...(config.tls.ca ? { caCerts: [config.tls.ca] } : {}),
    };
    return httpGet(deps.net, {
      addr: config.addr,
      ...(tls && { tls }),
      host: config.host,
      target: config.target,
      headers,
      timeoutMs: config.timeout,
      maxHeadBytes: deps.maxHeadBytes,
      maxBodyBytes: MAX_DENIAL_BODY,
    }, this.#connections);
  }

  #remember(key: string, headers: Header[], now: number): void {
    if (this.#cache.size >= MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, { headers, until: now + this.config.cache });
  }

  /** The chosen client headers, then what the request was. */
  #subrequestHeaders(
    request: RequestHead,
    info: ForwardRequestInfo,
    gatewaySet: readonly Header[],
  ): Header[] {
    const pass = this.config.pass_headers;
    const candidates = withoutUnderscoreNames(removeHopByHop(request.headers))
      .filter((h) => !NOT_PASSED.test(h.name.toLowerCase()));
    const passed = pass === undefined
      ? candidates
      : candidates.filter((h) => pass.includes(h.name.toLowerCase()));
    const clientIp = info.clientIp ?? "unix:";
    const incomingFor = info.trustForwarded ? getHeaderValues(request.headers, "x-forwarded-for") : [];
    const proto = info.tls ? "https" : "http";
    const host = getHeader(request.headers, "host") ?? "";
    return [
      ...passed,
      ...gatewaySet,
      { name: "X-Forwarded-Method", value: request.method },
      { name: "X-Forwarded-Proto", value: proto },
      { name: "X-Forwarded-Host", value: host },
      { name: "X-Forwarded-Uri", value: request.path },
      { name: "X-Forwarded-For", value: [...incomingFor, clientIp].join(", ") },
      { name: "X-Original-URI", value: request.path },
      // What Authelia's and oauth2-proxy's nginx recipes set: never the client's own.
      { name: "X-Original-Method", value: request.method },
      { name: "X-Original-URL", value: `${proto}://${host}${request.path}` },
    ];
  }
}

/** The auth service's refusal as the client gets it: its status, headers and body, re-framed
 * (Content-Length, Connection: close); no body for a HEAD. */
function denial(answer: HttpAnswer, method: string): Uint8Array {
  const headers = [
    ...removeHopByHop(answer.headers).filter((h) => !/^content-length$/i.test(h.name)),
    { name: "Content-Length", value: String(answer.body.length) },
    { name: "Connection", value: "close" },
  ];
  const head = serializeResponseHead({
    version: "HTTP/1.1",
    status: answer.status,
    reason: answer.reason,
    headers,
  });
  return method === "HEAD" ? head : concat(head, answer.body);
}
