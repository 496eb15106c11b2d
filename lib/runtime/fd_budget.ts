/**
 * Headroom under the open-files limit, for Bun: its accept loop (uSockets) retries at once when
 * accept() fails with EMFILE, so a process out of file descriptors spins at 100% CPU until one
 * frees up. The Bun adapter therefore counts the sockets it holds and, past a budget a little
 * below the limit, closes new connections right after accepting them: accept() itself keeps
 * succeeding, and the gateway hears about the shedding as an accept failure (logged once, then
 * backed off). Deno reports EMFILE from accept() and needs none of this.
 */

/** File descriptors kept free for everything that is not a counted socket (stdio, the event
 * loop, listeners, config and certificate reads on reload). */
export const FD_HEADROOM = 32;

export class FdBudget {
  #open = 0;
  #budget = Infinity;

  /** Sets the budget from the soft open-files limit once it is known. */
  setLimit(softLimit: number): void {
    this.#budget = Math.max(1, softLimit - FD_HEADROOM);
  }

  /** A socket was wrapped; returns the release to call once, when it closes. */
  opened(): () => void {
    this.#open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
    };
  }

  get full(): boolean {
    return this.#open >= this.#budget;
  }

  get open(): number {
    return this.#open;
  }
}
