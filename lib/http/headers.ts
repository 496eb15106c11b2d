/**
 * Small helpers over a parsed header list. Field names compare case-insensitively
 * (RFC 9110 §5.1); the list keeps names as received so a relayed head stays recognisable.
 */

/** One field line: name as received (case kept), value trimmed of OWS. */
export interface Header {
  name: string;
  value: string;
}

const SP = 0x20;
const HTAB = 0x09;

/** Strips optional whitespace (SP / HTAB only: String.trim would also eat 0xA0, which is obs-text)
 * from `text`, or from its part after `from` (a field's value after the colon, in one slice). */
export function trimOws(text: string, from = 0): string {
  let start = from;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isOws(code: number): boolean {
  return code === SP || code === HTAB;
}

/** The value of the first field with that name. */
export function getHeader(headers: Header[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const header of headers) {
    if (isNamed(header, wanted)) return header.value;
  }
  return undefined;
}

/** ASCII case folding in place of toLowerCase(): no string per comparison, and these run for
 * every field several times per handshake. Field names are tokens (RFC 9110 §5.1): ASCII. */
function isNamed(header: Header, lowercaseName: string): boolean {
  const name = header.name;
  if (name.length !== lowercaseName.length) return false;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if ((code >= 0x41 && code <= 0x5a ? code | 0x20 : code) !== lowercaseName.charCodeAt(i)) return false;
  }
  return true;
}

/** The values of every field with that name, in order. */
export function getHeaderValues(headers: Header[], name: string): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const header of headers) {
    if (isNamed(header, wanted)) values.push(header.value);
  }
  return values;
}

/**
 * The items of a comma-separated list spread over all fields of that name (RFC 9110 §5.6.1),
 * OWS-trimmed, empty items dropped, case kept (e.g. Sec-WebSocket-Protocol is case-sensitive).
 */
export function getTokenList(headers: Header[], name: string): string[] {
  const items: string[] = [];
  for (const value of getHeaderValues(headers, name)) {
    for (const item of value.split(",")) {
      const trimmed = trimOws(item);
      if (trimmed !== "") items.push(trimmed);
    }
  }
  return items;
}

/** Whether the list header contains the token, case-insensitively (`Connection: keep-alive, Upgrade`). */
export function hasToken(headers: Header[], name: string, token: string): boolean {
  const wanted = token.toLowerCase();
  return getTokenList(headers, name).some((item) => item.toLowerCase() === wanted);
}

/** A copy without the fields whose names (given in lowercase) are listed. A Set is used as is:
 * callers with a fixed list build it once (this runs several times per handshake). */
export function withoutHeaders(headers: Header[], names: Iterable<string>): Header[] {
  const drop = names instanceof Set ? names as ReadonlySet<string> : new Set(names);
  return headers.filter((header) => !drop.has(lowerName(header.name)));
}

/** A field name in lowercase, without a new string when it already is (as HTTP/2-era clients
 * send them) or has no letter that changes. */
function lowerName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 0x41 && code <= 0x5a) return name.toLowerCase();
  }
  return name;
}

/**
 * Drops fields whose name contains "_": CGI, WSGI and Rack turn "-" into "_", so a backend behind
 * them reads `X_Forwarded_For` from an untrusted client as the X-Forwarded-For wsgate sets
 * (nginx drops them by default too, `underscores_in_headers off`).
 */
export function withoutUnderscoreNames(headers: Header[]): Header[] {
  return headers.some((header) => header.name.includes("_"))
    ? headers.filter((header) => !header.name.includes("_"))
    : headers;
}
