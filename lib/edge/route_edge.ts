/**
 * A route's edge keys applied to one request (DESIGN §3a): the facts its placeholders render
 * from, its header rules with a log line the first time a value cannot be sent, and the fixed
 * answer of a `redirect` or `respond` route. Called only on routes that have such keys, so other
 * routes pay nothing for them.
 */
import { applyHeaderRules, type SkipReason, unsendable } from "../http/header_rules.ts";
import { fixedAnswer, safeLocation } from "../http/fixed_answer.ts";
import { hostName } from "../route.ts";
import { getHeader, type Header } from "../http/headers.ts";
import { renderTemplate, type RequestFacts } from "../net/placeholders.ts";
import { clientIpOf } from "../net/address.ts";
import { HttpError } from "../errors.ts";
import type { RequestHead } from "../http/head.ts";
import type { FixedAnswer, HeaderRules, RouteConfig } from "../config/schema.ts";
import type { Logger } from "../observe/log.ts";
import type { Conn } from "../runtime/types.ts";

/** What one request's facts come from. */
export interface FactsSource {
  client: Conn;
  head: RequestHead;
  tls: boolean;
  requestId: string;
  /** A verified token's claims, when the route checked one. */
  claims?: Readonly<Record<string, unknown>>;
}

export function requestFacts(source: FactsSource): RequestFacts {
  const { client, head } = source;
  const addr = client.remoteAddr;
  const cert = client.clientCertificate?.();
  return {
    clientIp: clientIpOf(addr) ?? "",
    clientPort: addr.transport === "tcp" ? String(addr.port) : "",
    host: hostName(getHeader(head.headers, "host") ?? authorityOf(head.target)),
    uri: head.path,
    scheme: source.tls ? "https" : "http",
    requestId: source.requestId,
    ...(cert && { clientCert: cert }),
    ...(source.claims && { claims: source.claims }),
  };
}

/** The authority of an absolute-form target (an HTTP/1.0 request may carry no Host). */
function authorityOf(target: string): string | undefined {
  return /^[a-z]+:\/\/([^/?]*)/i.exec(target)?.[1];
}

/** (route, header) pairs already logged: once per route, not once per request. */
const logged = new WeakMap<RouteConfig, Set<string>>();

function logOnce(logger: Logger, route: RouteConfig, header: string, reason: SkipReason): void {
  let seen = logged.get(route);
  if (!seen) logged.set(route, seen = new Set());
  const key = `${header.toLowerCase()} ${reason}`;
  if (seen.has(key)) return;
  seen.add(key);
  logger.log("warn", "header_not_sent", { route: route.path, header, reason, note: "logged once per route" });
}

/** The route's rules as an edit of a header list. */
export function headerEdit(
  rules: HeaderRules,
  route: RouteConfig,
  facts: () => RequestFacts,
  logger: Logger,
): (headers: Header[]) => Header[] {
  const upstreamSide = rules === route.request_headers;
  return (headers) =>
    applyHeaderRules(headers, rules, facts(), (name, reason) => {
      logOnce(logger, route, name, reason);
      // The client's Host in its place would let the client pick the virtual host the rule picks.
      if (upstreamSide && name.toLowerCase() === "host") {
        throw new HttpError(500, `the Host rule of route ${route.path} rendered ${reason}`);
      }
    });
}

/** The bytes of a `redirect` / `respond` route's answer to this request. */
export function routeAnswer(
  route: RouteConfig,
  answer: FixedAnswer,
  method: string,
  facts: () => RequestFacts,
  logger: Logger,
): { bytes: Uint8Array; status: number; bodyBytes: number } {
  let location: string | undefined;
  if (answer.kind === "redirect") {
    location = safeLocation(renderTemplate(answer.to, facts()));
    const reason = unsendable(location);
    if (reason) {
      logOnce(logger, route, "Location", reason);
      throw new HttpError(500, `redirect target of route ${route.path} rendered ${reason}`);
    }
  }
  const rules = route.response_headers;
  const edit = rules && headerEdit(rules, route, facts, logger);
  const { bytes, bodyBytes } = fixedAnswer(answer, {
    method,
    ...(location && { location }),
    ...(edit && { edit }),
  });
  return { bytes, status: answer.status, bodyBytes };
}
