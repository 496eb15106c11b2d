/**
 * KEEP-ALIVE: a client connection between two plain HTTP requests. It waits for the first bytes
 * of the next request for at most keepalive_timeout, and while it waits it is idle: the gateway
 * may close it at once to stop (drain, reload) or to make room for a new client (IdleClients).
 * The head that follows then has handshake_timeout from its first byte, as a first request does.
 */
import type { IdleClient, IdleClients } from "./idle_clients.ts";
import type { Conn } from "../runtime/types.ts";

export interface IdleWait {
  timeoutMs: number;
  /** Aborted when the gateway takes no more requests on this connection (drain, reload). */
  retired: AbortSignal;
  idle: IdleClients;
  /** Gives the connection slot back at once (the registry may close it to make room). */
  release(): void;
}

/** The first bytes of the next request (a copy), or null when the connection is to end: the
 * client left or sent nothing in time, or the gateway retired or evicted it. The caller closes it. */
export function awaitNextRequest(client: Conn, wait: IdleWait): Promise<Uint8Array | null> {
  if (wait.retired.aborted) return Promise.resolve(null);
  return new Promise((resolve) => {
    const done = (first: Uint8Array | null) => {
      clearTimeout(timer);
      wait.retired.removeEventListener("abort", retire);
      wait.idle.delete(entry);
      resolve(first);
    };
    const retire = () => done(null);
    const entry: IdleClient = {
      evict() {
        wait.release();
        client.close();
        done(null);
      },
    };
    const timer = setTimeout(() => done(null), wait.timeoutMs);
    wait.retired.addEventListener("abort", retire, { once: true });
    wait.idle.add(entry);
    // A read the caller ends by closing the client settles later: ignored then.
    client.read().then((chunk) => done(chunk === null ? null : chunk.slice()), () => done(null));
  });
}
