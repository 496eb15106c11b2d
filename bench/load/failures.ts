/** Counts failures and keeps the first few distinct reasons, so a broken run explains itself. */
export class Failures {
  #count = 0;
  #reasons = new Map<string, number>();

  add(reason: string): void {
    this.#count++;
    if (this.#reasons.size < 8 || this.#reasons.has(reason)) {
      this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + 1);
    }
  }

  get count(): number {
    return this.#count;
  }

  /** e.g. ["connect: ECONNREFUSED x3"] */
  summary(): string[] {
    return [...this.#reasons].map(([reason, n]) => (n > 1 ? `${reason} x${n}` : reason));
  }
}
