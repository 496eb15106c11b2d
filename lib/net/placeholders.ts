/**
 * Placeholder templates (pure): `"https://{host}{uri}"`, `"{tls.client.subject}"`, `"{jwt.sub}"`.
 * Parsed once when the config is loaded (an unknown placeholder is a config error there), rendered
 * per request from the facts of that request. `{{` is a literal `{`.
 *
 * Templates and rendered values are byte strings (one char per byte, like parsed heads): literal
 * text is stored as its UTF-8 bytes, and values that come as Unicode (certificate subjects, JWT
 * claims) are encoded the same way, so a rendered value always serialises into a head.
 */

/** What a connection with a client certificate knows about it (mutual TLS). */
export interface ClientCertificate {
  /** The subject on one line, RFC 4514 style: `CN=alice,O=Example`. */
  subject: string;
  /** SHA-256 of the DER certificate, lower-case hex. */
  fingerprint: string;
  /** The certificate chains to the listener's client_ca. */
  verified: boolean;
}

/** The facts one request's placeholders render from. Strings from the head are byte strings. */
export interface RequestFacts {
  /** "" for a unix-socket client. */
  clientIp: string;
  clientPort: string;
  /** From Host (or the absolute-form target), lower case, without port or trailing dot. */
  host: string;
  /** Path and query as received. */
  uri: string;
  scheme: "http" | "https";
  /** "" when request IDs are off. */
  requestId: string;
  /** Absent: no certificate was presented (every `{tls.client.*}` renders empty). */
  clientCert?: ClientCertificate;
  /** Claims of a verified token (route `auth.jwt`); absent: every `{jwt.*}` renders empty. */
  claims?: Readonly<Record<string, unknown>>;
}

/** The placeholders a template may name, besides `{jwt.CLAIM}`. */
export const PLACEHOLDERS = [
  "client_ip",
  "client_port",
  "host",
  "uri",
  "path",
  "query",
  "scheme",
  "request_id",
  "tls.client.subject",
  "tls.client.fingerprint",
  "tls.client.verified",
] as const;

export type Placeholder = (typeof PLACEHOLDERS)[number];

/** One piece of a template: literal bytes, a named placeholder, or a JWT claim by name. */
export type Part = { text: string } | { name: Placeholder } | { claim: string };

export interface Template {
  /** As written in the config, for messages. */
  source: string;
  parts: Part[];
}

const JWT = "jwt.";
/** A claim name: anything but braces, whitespace and control characters (namespaced claims
 * such as `https://example.com/roles` included). */
// deno-lint-ignore no-control-regex
const CLAIM_NAME = /^[^{}\s\u0000-\u001f\u007f]+$/;

/** Parses a template; `{ error }` names the first bad placeholder. */
export function parseTemplate(source: string): Template | { error: string; name?: string } {
  const parts: Part[] = [];
  let literal = "";
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf("{", at);
    if (open === -1) {
      literal += source.slice(at);
      break;
    }
    literal += source.slice(at, open);
    if (source[open + 1] === "{") {
      literal += "{";
      at = open + 2;
      continue;
    }
    const close = source.indexOf("}", open);
    if (close === -1) {
      return {
        error: `unclosed placeholder at "${source.slice(open, open + 20)}" (write {{ for a literal {)`,
      };
    }
    const name = source.slice(open + 1, close);
    const part = placeholderPart(name);
    if ("error" in part) return part;
    if (literal !== "") parts.push({ text: utf8Bytes(literal) });
    literal = "";
    parts.push(part);
    at = close + 1;
  }
  if (literal !== "") parts.push({ text: utf8Bytes(literal) });
  return { source, parts };
}

function placeholderPart(name: string): Part | { error: string; name: string } {
  const known = PLACEHOLDERS.find((p) => p === name);
  if (known) return { name: known };
  if (name.startsWith(JWT)) {
    const claim = name.slice(JWT.length);
    if (CLAIM_NAME.test(claim)) return { claim };
    return { error: `invalid claim name in placeholder "{${name}}"`, name };
  }
  return { error: `unknown placeholder "{${name}}"`, name };
}

/** Whether the template names this placeholder (e.g. `{request_id}` when IDs are off). */
export function usesPlaceholder(template: Template, name: Placeholder): boolean {
  return template.parts.some((part) => "name" in part && part.name === name);
}

/** The template's value for these facts. A template without placeholders costs nothing. */
export function renderTemplate(template: Template, facts: RequestFacts): string {
  const { parts } = template;
  if (parts.length === 1 && "text" in parts[0]!) return parts[0].text;
  let out = "";
  for (const part of parts) {
    out += "text" in part
      ? part.text
      : "name" in part
      ? factOf(part.name, facts)
      : claimOf(part.claim, facts);
  }
  return out;
}

function factOf(name: Placeholder, facts: RequestFacts): string {
  switch (name) {
    case "client_ip":
      return facts.clientIp;
    case "client_port":
      return facts.clientPort;
    case "host":
      return facts.host;
    case "uri":
      return facts.uri;
    case "path": {
      const query = facts.uri.indexOf("?");
      return query === -1 ? facts.uri : facts.uri.slice(0, query);
    }
    case "query": {
      const query = facts.uri.indexOf("?");
      return query === -1 ? "" : facts.uri.slice(query + 1);
    }
    case "scheme":
      return facts.scheme;
    case "request_id":
      return facts.requestId;
    case "tls.client.subject":
      return facts.clientCert ? utf8Bytes(facts.clientCert.subject) : "";
    case "tls.client.fingerprint":
      return facts.clientCert?.fingerprint ?? "";
    case "tls.client.verified":
      return facts.clientCert ? String(facts.clientCert.verified) : "";
  }
}

function claimOf(claim: string, facts: RequestFacts): string {
  return claimText(facts.claims?.[claim]);
}

/** A claim's value as header text (also auth.jwt claims_to_headers): strings as they are, numbers
 * and booleans written out, a list of those joined with ","; anything else (objects, null)
 * renders empty, so the header is not sent. */
export function claimText(value: unknown): string {
  if (Array.isArray(value)) {
    return value.every(isScalar) ? utf8Bytes(value.map(String).join(",")) : "";
  }
  return isScalar(value) ? utf8Bytes(String(value)) : "";
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean";
}

const encoder = new TextEncoder();

/** A Unicode string as its UTF-8 bytes, one char per byte; ASCII comes back as it is. */
export function utf8Bytes(text: string): string {
  // deno-lint-ignore no-control-regex
  if (/^[\u0000-\u007f]*$/.test(text)) return text;
  let out = "";
  for (const byte of encoder.encode(text)) out += String.fromCharCode(byte);
  return out;
}
