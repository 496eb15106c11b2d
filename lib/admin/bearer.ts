/**
 * BEARER: `Authorization: Bearer TOKEN` against admin.token_file's token (pure). The compare
 * takes the same time wherever the first wrong byte is, so timing does not reveal the token.
 */

const encoder = new TextEncoder();
const BEARER = /^bearer +(\S+)$/i;

/** Whether the Authorization fields (all of them: two is one too many) carry `token`. */
export function bearerMatches(authorizations: readonly string[], token: string): boolean {
  if (authorizations.length !== 1) return false;
  const given = BEARER.exec(authorizations[0]!)?.[1];
  return given !== undefined && constantTimeEqual(encoder.encode(given), encoder.encode(token));
}

/** Walks all of `expected` whatever `given` holds; only the token's length can show in the timing. */
export function constantTimeEqual(given: Uint8Array, expected: Uint8Array): boolean {
  let diff = given.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) diff |= (given[i] ?? 0) ^ expected[i]!;
  return diff === 0;
}
