/**
 * Client connections waiting for their next request (keep-alive), oldest first. A connection slot
 * spent on a client that sends nothing is the cheapest to give back: when max_connections is
 * reached, the oldest idle one is closed to make room for a new client (nginx does the same with
 * its reusable connections), so idle keep-alive connections can never lock new clients out.
 */
export interface IdleClient {
  /** Gives its connection slot back at once and closes it. */
  evict(): void;
}

export class IdleClients {
  // A Set iterates in insertion order: the first entry is the oldest idle one.
  #idle = new Set<IdleClient>();

  get size(): number {
    return this.#idle.size;
  }

  add(client: IdleClient): void {
    this.#idle.add(client);
  }

  delete(client: IdleClient): void {
    this.#idle.delete(client);
  }

  /** Closes the connection idle the longest; false when none is idle. */
  evictOldest(): boolean {
    const oldest = this.#idle.values().next();
    if (oldest.done) return false;
    this.#idle.delete(oldest.value);
    oldest.value.evict();
    return true;
  }
}
