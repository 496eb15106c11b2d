/** Waiting helpers for the load scenarios; every wait is bounded in time. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves `wait()` once `tick()` was called `count` times, or when the timeout passes. */
export class Countdown {
  #left: number;
  #resolve: () => void = () => {};
  #done: Promise<void>;

  constructor(count: number) {
    this.#left = count;
    this.#done = new Promise((resolve) => (this.#resolve = resolve));
    if (count <= 0) this.#resolve();
  }

  tick(): void {
    if (--this.#left === 0) this.#resolve();
  }

  get left(): number {
    return Math.max(0, this.#left);
  }

  /** true when the count reached zero in time. */
  async wait(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.#done, timeout]);
    clearTimeout(timer);
    return this.#left <= 0;
  }
}
