/**
 * Read buffers for runtimes that need a caller-owned buffer per pending read (Deno).
 *
 * Idle tunnels dominate memory, and a pending read pins its buffer, so each connection waits
 * with a small slice carved from a shared slab; only while data flows does it borrow a large
 * buffer from a bounded pool (measured: ~17 KiB per idle proxied connection instead of ~105 KiB
 * with fixed 64 KiB buffers, see docs/runtime.md §2.2).
 */

export const SMALL_BUFFER = 1024;
export const LARGE_BUFFER = 64 * 1024;
const SLAB_BYTES = 1024 * 1024;
/** At most this many idle large buffers are kept (16 MiB); beyond it they go to the GC. */
const MAX_POOLED_LARGE = 256;

const freeSmall: Uint8Array[] = [];
const freeLarge: Uint8Array[] = [];

/** A 1 KiB buffer; slabs avoid one ArrayBuffer (and its malloc overhead) per connection. */
export function takeSmall(): Uint8Array {
  const reused = freeSmall.pop();
  if (reused) return reused;
  const slab = new ArrayBuffer(SLAB_BYTES);
  for (let offset = SMALL_BUFFER; offset < SLAB_BYTES; offset += SMALL_BUFFER) {
    freeSmall.push(new Uint8Array(slab, offset, SMALL_BUFFER));
  }
  return new Uint8Array(slab, 0, SMALL_BUFFER);
}

export function giveSmall(buffer: Uint8Array): void {
  freeSmall.push(buffer);
}

export function takeLarge(): Uint8Array {
  return freeLarge.pop() ?? new Uint8Array(LARGE_BUFFER);
}

export function giveLarge(buffer: Uint8Array): void {
  if (freeLarge.length < MAX_POOLED_LARGE) freeLarge.push(buffer);
}
