/**
 * The edge keys of a route (DESIGN §3a): `strip_prefix`, `add_prefix`, `request_headers`,
 * `response_headers`, and the fixed answers `redirect` and `respond`; and the top-level
 * `request_id_header`. Pure, like the rest of validation: templates are parsed here, so an unknown
 * placeholder is reported with its key path, and the data path only renders them.
 */
import {
  parseTemplate,
  type Placeholder,
  PLACEHOLDERS,
  type Template,
  usesPlaceholder,
  utf8Bytes,
} from "../net/placeholders.ts";
import { asBoolean, closest, Invalid, type KeyPath, type Parse, type Raw, type Reader } from "./reader.ts";
import {
  DEFAULTS,
  type FixedAnswer,
  type HeaderRules,
  type HeaderTemplate,
  type RouteConfig,
} from "./schema.ts";

export const EDGE_ROUTE_KEYS = [
  "strip_prefix",
  "add_prefix",
  "request_headers",
  "response_headers",
  "redirect",
  "respond",
] as const;

/** Route keys that only mean something when a request goes upstream. */
const UPSTREAM_ONLY_KEYS = [
  "websocket_only",
  "read_timeout",
  "send_timeout",
  "idle_timeout",
  "websocket",
  "strip_prefix",
  "add_prefix",
  "request_headers",
];

const RULE_KEYS = ["set", "add", "remove"] as const;
const REDIRECT_KEYS = ["to", "status"] as const;
const RESPOND_KEYS = ["status", "body", "content_type"] as const;
const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;
const MAX_BODY_BYTES = 65_536;

/** A field name (RFC 9110 token) without "_", which the gateway drops from requests. */
const TOKEN = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Headers the gateway writes itself (framing, the upgrade, the client's address, hop-by-hop
 * fields): a rule could only break them. Lower case; `-` at the end is a prefix. */
const GATEWAY_OWNED = [
  "connection",
  "upgrade",
  "sec-websocket-",
  "content-length",
  "transfer-encoding",
  "x-forwarded-",
  "forwarded",
  "x-real-ip",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "proxy-authenticate",
  "proxy-authorization",
];

function ownedBy(lower: string): string | undefined {
  return GATEWAY_OWNED.find((owned) => owned.endsWith("-") ? lower.startsWith(owned) : lower === owned);
}

/** What validating a route's edge keys needs from the rest of the config. */
export interface EdgeContext {
  /** "" when request IDs are off. */
  requestIdHeader: string;
}

/** `request_id_header`: a header name, or "" (off). */
export function readRequestIdHeader(r: Reader, root: Raw): string {
  if (root.request_id_header === undefined) return DEFAULTS.request_id_header;
  const name = root.request_id_header;
  if (name === "") return "";
  const problem = typeof name !== "string" ? 'must be a header name, or "" (off)' : headerNameProblem(name) ??
    (ownedBy(name.toLowerCase()) || name.toLowerCase() === "host"
      ? `"${name}" is written by the gateway for another purpose`
      : undefined);
  if (problem) r.report(["request_id_header"], problem);
  return problem ? DEFAULTS.request_id_header : name as string;
}

/**
 * `redirect` or `respond`, when the route has one; reports a route with none or several of
 * upstream / redirect / respond, and upstream-only keys on a route that answers itself.
 */
export function readAnswer(r: Reader, route: Raw, path: KeyPath, edge: EdgeContext): FixedAnswer | undefined {
  const given = (["upstream", "redirect", "respond"] as const).filter((key) => route[key] !== undefined);
  if (given.length === 0) {
    r.report(path, 'needs one of "upstream", "redirect" or "respond"');
    return undefined;
  }
  if (given.length > 1) {
    r.report(
      [...path, given[1]!],
      `cannot be combined with "${given[0]}": a route has exactly one of upstream, redirect or respond`,
      true,
    );
    return undefined;
  }
  if (given[0] === "upstream") return undefined;
  for (const key of UPSTREAM_ONLY_KEYS) {
    if (route[key] !== undefined) {
      r.report(
        [...path, key],
        `has no effect on a route answered by "${given[0]}" (no upstream is contacted)`,
        true,
      );
    }
  }
  return given[0] === "redirect" ? readRedirect(r, route, path, edge) : readRespond(r, route, path);
}

function readRedirect(r: Reader, route: Raw, path: KeyPath, edge: EdgeContext): FixedAnswer | undefined {
  const at = [...path, "redirect"];
  const raw = r.mapping(route.redirect, at, REDIRECT_KEYS);
  if (raw === undefined) return undefined;
  const to = r.need(raw, "to", at, asTemplate);
  if (to) checkRequestIdUse(r, [...at, "to"], to, edge);
  const status = r.get(raw, "status", at, asRedirectStatus) ?? DEFAULTS.redirect_status;
  return to && { kind: "redirect", status, to };
}

const asRedirectStatus: Parse<(typeof REDIRECT_STATUSES)[number]> = (value) =>
  REDIRECT_STATUSES.find((status) => status === value) ??
    new Invalid(`must be one of: ${REDIRECT_STATUSES.join(", ")}`);

function readRespond(r: Reader, route: Raw, path: KeyPath): FixedAnswer | undefined {
  const at = [...path, "respond"];
  const raw = r.mapping(route.respond, at, RESPOND_KEYS);
  if (raw === undefined) return undefined;
  const status = r.get(raw, "status", at, asAnswerStatus) ?? 200;
  const body = r.get(raw, "body", at, asBody) ?? "";
  const contentType = r.get(raw, "content_type", at, asHeaderText) ?? DEFAULTS.respond_content_type;
  if (body !== "" && (status === 204 || status === 304)) {
    r.report([...at, "body"], `must be empty: a ${status} answer has no body`);
  }
  return { kind: "respond", status, body, content_type: utf8Bytes(contentType) };
}

const asAnswerStatus: Parse<number> = (value) =>
  typeof value === "number" && Number.isInteger(value) && value >= 200 && value <= 599
    ? value
    : new Invalid("must be an HTTP status from 200 to 599");

const asBody: Parse<string> = (value) => {
  if (typeof value !== "string") return new Invalid("must be a string");
  const bytes = new TextEncoder().encode(value).length;
  return bytes > MAX_BODY_BYTES
    ? new Invalid(`must be at most ${MAX_BODY_BYTES} bytes (it has ${bytes})`)
    : value;
};

/** A literal header value: non-empty, without control characters. */
const asHeaderText: Parse<string> = (value) =>
  typeof value !== "string" || value === ""
    ? new Invalid("must be a non-empty string")
    : CONTROL.test(value)
    ? new Invalid("must not contain control characters (CR, LF, tab, NUL ...)")
    : value;

/** A value with placeholders: a non-empty string (or a number) without control characters. */
const asTemplate: Parse<Template> = (value) => {
  if (typeof value === "number") value = String(value);
  if (typeof value !== "string") return new Invalid("must be a string");
  if (value === "") return new Invalid("must not be empty (a value that renders empty is never sent)");
  if (CONTROL.test(value)) return new Invalid("must not contain control characters (CR, LF, tab, NUL ...)");
  const template = parseTemplate(value);
  if (!("error" in template)) return template;
  const hint = template.name === undefined ? undefined : closest(template.name, PLACEHOLDERS);
  const known = hint
    ? `did you mean "{${hint}}"?`
    : `known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(" ")} {jwt.CLAIM}`;
  return new Invalid(`${template.error}; ${known}`);
};

/** `{request_id}` would always render empty with request IDs off. */
function checkRequestIdUse(r: Reader, at: KeyPath, template: Template, edge: EdgeContext): void {
  const name: Placeholder = "request_id";
  if (edge.requestIdHeader === "" && usesPlaceholder(template, name)) {
    r.report(at, 'uses {request_id}, but request_id_header is "" (request IDs are off)');
  }
}

/** `strip_prefix` and `add_prefix`, when either is given. */
export function readRewrite(r: Reader, route: Raw, path: KeyPath): Pick<RouteConfig, "rewrite"> {
  const strip = r.get(route, "strip_prefix", path, asBoolean) ?? false;
  const add = r.get(route, "add_prefix", path, asPrefix) ?? "";
  return strip || add !== "" ? { rewrite: { strip, add } } : {};
}

const PREFIX_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]+$/;

const asPrefix: Parse<string> = (value) => {
  if (typeof value !== "string" || !value.startsWith("/")) {
    return new Invalid('must be a path starting with "/"');
  }
  if (value.length > 1 && value.endsWith("/")) {
    return new Invalid('must not end with "/" (the request path brings its own): "/v2" makes /x into /v2/x');
  }
  if (value === "/") return new Invalid('"/" adds nothing; leave add_prefix out');
  if (!PREFIX_CHARS.test(value)) {
    return new Invalid("may only hold URI path characters (no query, fragment or spaces)");
  }
  if (/%(?![0-9A-Fa-f]{2})/.test(value)) return new Invalid("has a bad %-escape");
  if (/\/\//.test(value) || /(?:^|\/)(?:\.|%2e){1,2}(?=\/|$)/i.test(value)) {
    return new Invalid('must not hold "//" or a dot-segment ("." or "..")');
  }
  return value;
};

/** `request_headers` / `response_headers`: `set` and `add` (name: value) and `remove` (names). */
export function readHeaderRules(
  r: Reader,
  route: Raw,
  path: KeyPath,
  key: "request_headers" | "response_headers",
  edge: EdgeContext,
): HeaderRules | undefined {
  if (route[key] === undefined) return undefined;
  const at = [...path, key];
  const raw = r.mapping(route[key], at, RULE_KEYS);
  if (raw === undefined) return undefined;
  const side = { request: key === "request_headers", edge };
  const set = readTemplates(r, raw, [...at, "set"], "set", side);
  const add = readTemplates(r, raw, [...at, "add"], "add", side);
  const removed = readRemoved(r, raw, [...at, "remove"], side);
  for (const { lower } of set) {
    const both = removed.find((entry) => entry.lower === lower);
    if (both) {
      r.report(both.path, `"${both.name}" is also in set, which already removes what the client sent`);
    }
  }
  const drop = [...new Set([...removed.map((e) => e.lower), ...set.map((t) => t.lower)])];
  // Host is replaced only once its new value rendered; one that cannot be sent refuses the request
  // (headerEdit: 500), so the client's own Host never goes in its place.
  return { drop: drop.filter((name) => name !== "host"), set, add };
}

interface Side {
  /** request_headers (else response_headers). */
  request: boolean;
  edge: EdgeContext;
}

function readTemplates(r: Reader, rules: Raw, at: KeyPath, op: "set" | "add", side: Side): HeaderTemplate[] {
  const value = rules[op];
  if (value === undefined) return [];
  const raw = r.mapping(value, at);
  if (raw === undefined) return [];
  const seen = new Set<string>();
  const templates: HeaderTemplate[] = [];
  for (const name of Object.keys(raw)) {
    const lower = name.toLowerCase();
    const problem = headerNameProblem(name) ?? ruleNameProblem(name, lower, op, side) ??
      (seen.has(lower) ? `"${name}" is listed twice (names ignore case)` : undefined);
    if (problem) r.report([...at, name], problem, true);
    const template = r.get(raw, name, at, asTemplate);
    seen.add(lower);
    if (problem || !template) continue;
    checkRequestIdUse(r, [...at, name], template, side.edge);
    templates.push({ name, lower, value: template });
  }
  return templates;
}

function readRemoved(
  r: Reader,
  rules: Raw,
  at: KeyPath,
  side: Side,
): { name: string; lower: string; path: KeyPath }[] {
  const items = r.strings(rules, "remove", at.slice(0, -1), { required: false }) ?? [];
  const seen = new Set<string>();
  const removed = [];
  for (const item of items) {
    const lower = item.value.toLowerCase();
    const problem = headerNameProblem(item.value) ?? ruleNameProblem(item.value, lower, "remove", side);
    if (problem) r.report(item.path, problem);
    else if (seen.has(lower)) r.report(item.path, `"${item.value}" is listed twice (names ignore case)`);
    else removed.push({ name: item.value, lower, path: item.path });
    seen.add(lower);
  }
  return removed;
}

/** Why a string cannot be a header name a rule writes, or undefined. */
export function headerNameProblem(name: string): string | undefined {
  if (name.includes("_")) {
    return `invalid header name "${name}": use "-" instead of "_" (names with "_" are dropped before forwarding)`;
  }
  if (!TOKEN.test(name)) return `invalid header name "${name}" (letters, digits and !#$%&'*+.^\`|~- only)`;
  return undefined;
}

function ruleNameProblem(
  name: string,
  lower: string,
  op: "set" | "add" | "remove",
  side: Side,
): string | undefined {
  const owned = ownedBy(lower);
  if (owned) return `"${name}" is written by the gateway and cannot be changed by header rules`;
  if (side.request && lower === side.edge.requestIdHeader.toLowerCase()) {
    return `"${name}" is the request_id_header, written by the gateway`;
  }
  if (side.request && lower === "host" && op !== "set") {
    return `"${name}" can only be set (a request carries exactly one Host)`;
  }
  return undefined;
}
