/** Picks the runtime adapter once, at start-up. Literal dynamic imports keep each adapter's
 * globals (Deno.*, Bun.*) from being touched on the other runtime. */
import type { Runtime } from "./types.ts";

export async function loadRuntime(): Promise<Runtime> {
  const mod = await import("./deno.ts");
  return mod.runtime;
}
