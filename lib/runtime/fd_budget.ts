/**
 * Headroom under the open-files limit, for Bun: its accept loop (uSockets) retries at once when
 * accept() fails with EMFILE, so a process out of file descriptors spins at 100% CPU until one
 * frees up. The Bun adapter therefore counts the sockets it holds and, past a budget a little
 * below the limit, sheds new connections right after accepting them: accept() itself keeps
 * succeeding, and the gateway hears about the shedding as an accept failure (logged once, then
 * backed off). A few shed connections at a time are answered 503 first (answerSlot), the rest
 * closed bare. Dials get a little more room than accepts (a handshake accepted under the budget
 * still needs its upstream), but never the whole headroom: Bun reports a connect that fails with
 * EMFILE as ECONNREFUSED, which would be blamed on the server. Deno reports EMFILE from accept()
 * and connect() and needs none of this.
 */

/** File descriptors kept free for everything that is not a counted socket (stdio, the event
 * loop, listeners, config and certificate reads on reload). */
export const FD_HEADROOM = 32;
/** Of the headroom: how many dials may go past the accept budget. */
const DIAL_ROOM = 8;
/** Of the headroom: shed connections being answered 503 at the same time (each holds its socket
 * for up to a second, until the client has read the answer). */
export const SHED_ANSWERS = 8;

export class FdBudget {
  #open = 0;
  #answering = 0;
  #budget = Infinity;

  /** Sets the budget from the soft open-files limit once it is known. */
  setLimit(softLimit: number): void {
    this.#budget = Math.max(1, softLimit - FD_HEADROOM);
  }

  /** A socket was wrapped; closed() must follow exactly once, when it closes. (A count, not a
   * release closure per socket: an idle tunnel's memory is a headline figure.) */
  opened(): void {
    this.#open++;
  }

  closed(): void {
    this.#open--;
  }

  /** No new connection may be accepted (it is shed). */
  get full(): boolean {
    return this.#open >= this.#budget;
  }

  /** No new upstream connection may be opened: the dial fails as out of descriptors (EMFILE). */
  get dialFull(): boolean {
    return this.#open >= this.#budget + DIAL_ROOM;
  }

  /** Room to answer one shed connection (503) before closing it: its release, or undefined
   * when SHED_ANSWERS are already being answered (then it is closed at once). */
  answerSlot(): (() => void) | undefined {
    if (this.#answering >= SHED_ANSWERS) return undefined;
    this.#answering++;
    return once(() => this.#answering--);
  }

  get open(): number {
    return this.#open;
  }
}

function once(release: () => void): () => void {
  let released = false;
  return () => {
    if (released) return;
    released = true;
    release();
  };
}
