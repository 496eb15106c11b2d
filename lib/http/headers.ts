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

/** SP or HTAB: optional whitespace (RFC 9110 §5.6.3). */
export function isOws(code: number): boolean {
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
  return header.name.length === lowercaseName.length && foldedAt(header.name, 0, lowercaseName);
}

/** How many fields have that name: a check of a field that must not repeat needs no list of them. */
export function countHeader(headers: Header[], name: string): number {
  const wanted = name.toLowerCase();
  let count = 0;
  for (const header of headers) {
    if (isNamed(header, wanted)) count++;
  }
  return count;
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

/** Whether the list header contains the token, ASCII case-insensitively (`Connection: keep-alive,
 * Upgrade`): an item is what lies between commas, OWS-trimmed, as getTokenList() reads it. Scanned in
 * place: this runs five times per WebSocket handshake, and a list of strings per call was a third
 * of the handshake checks' garbage. */
export function hasToken(headers: Header[], name: string, token: string): boolean {
  const wantedName = name.toLowerCase();
  const wanted = token.toLowerCase();
  if (wanted === "") return false;
  for (const header of headers) {
    if (isNamed(header, wantedName) && listHas(header.value, wanted)) return true;
  }
  return false;
}

function listHas(list: string, lowercaseToken: string): boolean {
  for (let start = 0; start <= list.length;) {
    let end = list.indexOf(",", start);
    if (end === -1) end = list.length;
    let first = start;
    let last = end;
    while (first < last && isOws(list.charCodeAt(first))) first++;
    while (last > first && isOws(list.charCodeAt(last - 1))) last--;
    if (last - first === lowercaseToken.length && foldedAt(list, first, lowercaseToken)) return true;
    start = end + 1;
  }
  return false;
}

/** Whether `text` holds `lowercase` at `offset`, A-Z folded (as isNamed does for names). */
function foldedAt(text: string, offset: number, lowercase: string): boolean {
  for (let i = 0; i < lowercase.length; i++) {
    const code = text.charCodeAt(offset + i);
    if ((code >= 0x41 && code <= 0x5a ? code | 0x20 : code) !== lowercase.charCodeAt(i)) return false;
  }
  return true;
}

/** A copy without the fields whose names (given in lowercase) are listed. A Set is used as is:
 * callers with a fixed list build it once (this runs several times per handshake). */
export function withoutHeaders(headers: Header[], names: Iterable<string>): Header[] {
  const drop = names instanceof Set ? names as ReadonlySet<string> : new Set(names);
  return headers.filter((header) => !isAnyOf(header, drop));
}

/** Compared in place rather than through a lowercased copy of the name: browsers capitalise
 * theirs, and this runs for every field twice per reissued request. */
function isAnyOf(header: Header, lowercaseNames: ReadonlySet<string>): boolean {
  if (lowercaseNames.has(header.name)) return true;
  for (const name of lowercaseNames) {
    if (isNamed(header, name)) return true;
  }
  return false;
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
