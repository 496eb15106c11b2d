/** Picks the runtime adapter once, at start-up. Literal dynamic imports keep each adapter's
 * globals (Deno.*, Bun.*) from being touched on the other runtime, and let both bundlers
 * (deno compile, bun build --compile) see and include both files. */
import { removeOwnSocket } from "./unix_socket.ts";
import type { Listener, ListenOptions, Runtime } from "./types.ts";

export async function loadRuntime(): Promise<Runtime> {
  const runtime = "Bun" in globalThis
    ? (await import("./bun.ts")).runtime
    : (await import("./deno.ts")).runtime;
  return { ...runtime, listen: (options) => listenCleaningUp(runtime, options) };
}

/** Neither runtime removes a unix socket's file when its listener closes: a clean stop would
 * leave it behind (and the next start would have to tell it from a live one). */
async function listenCleaningUp(runtime: Runtime, options: ListenOptions): Promise<Listener> {
  const listener = await runtime.listen(options);
  const { addr } = options;
  if (addr.transport !== "unix") return listener;
  return {
    get addr() {
      return listener.addr;
    },
    accept: () => listener.accept(),
    close() {
      listener.close();
      removeOwnSocket(addr.path);
    },
  };
}
