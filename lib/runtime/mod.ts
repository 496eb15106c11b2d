/** Picks the runtime adapter once, at start-up. Literal dynamic imports keep each adapter's
 * globals (Deno.*, Bun.*) from being touched on the other runtime, and let both bundlers
 * (deno compile, bun build --compile) see and include both files. */
import type { Runtime } from "./types.ts";

export async function loadRuntime(): Promise<Runtime> {
  if ("Bun" in globalThis) return (await import("./bun.ts")).runtime;
  return (await import("./deno.ts")).runtime;
}
