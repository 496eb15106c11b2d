import { Buffer } from "node:buffer";

/** No bytes: one shared array rather than a new one (and, on Deno, an ArrayBuffer) wherever a
 * handshake has nothing after a head. */
export const EMPTY = new Uint8Array(0);

/**
 * Uninitialised bytes for what is filled at once and dropped soon after (a head to write, a head
 * to parse). On Deno a `new Uint8Array` is an ArrayBuffer of its own outside V8's heap, 1-3 µs
 * each, several per handshake; node:buffer's allocUnsafe carves small ones from a shared 8 KiB
 * pool (0.2 µs). On Bun it skips the zero fill. Not for bytes kept for long (a pooled slice pins
 * its whole pool), nor for a caller that copies with `slice()` (on a Buffer that is a view).
 */
export function transientBytes(length: number): Uint8Array {
  return Buffer.allocUnsafe(length);
}

const copyBytes = Buffer.prototype.copy;

/** The first `length` bytes of `bytes` as transientBytes: one native copy, called on the array itself
 * as head.ts decodes (no Buffer view made over it); a `slice` is an ArrayBuffer of its own on Deno. */
export function transientCopy(bytes: Uint8Array, length: number): Uint8Array {
  const copy = transientBytes(length);
  copyBytes.call(bytes, copy, 0, 0, length);
  return copy;
}

/** Joins two byte arrays, without copying when one of them is empty; `alloc` makes the joined
 * array (transientBytes for bytes about to be written). */
export function concat(
  a: Uint8Array,
  b: Uint8Array,
  alloc: (length: number) => Uint8Array = ownBytes,
): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = alloc(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function ownBytes(length: number): Uint8Array {
  return new Uint8Array(length);
}
