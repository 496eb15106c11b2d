/** No bytes: one shared array rather than a new one (and, on Deno, an ArrayBuffer) wherever a
 * handshake has nothing after a head. */
export const EMPTY = new Uint8Array(0);

/** Joins two byte arrays, without copying when one of them is empty. */
export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
