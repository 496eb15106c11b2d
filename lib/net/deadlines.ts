/**
 * The handshake phase's timeouts (a head read, a dial) on one timer. A handshake sets three, and a
 * setTimeout with its clearTimeout costs ~2–4 µs on Deno (Node-compatible Timeout objects; ~0.2 µs
 * on Bun): here a deadline is an entry in the bucket of RESOLUTION_MS it falls in, and the one timer
 * is armed for the earliest bucket. A deadline runs up to RESOLUTION_MS late, never early. Time is
 * monotonic: a wall clock stepping back must not hold a dial past its connect_timeout.
 */
import { type Clock, systemClock, type TimerHandle } from "../tunnel/clock.ts";

export const RESOLUTION_MS = 10;
const MAX_TIMER_MS = 2_147_483_647;

/** One pending deadline: what cancel() takes. */
export class Deadline {
  constructor(readonly bucket: number, readonly run: () => void) {}
}

export class Deadlines {
  readonly #clock: Clock;
  /** Bucket number -> its deadlines; a bucket emptied by cancel() stays until its time. */
  #buckets = new Map<number, Set<Deadline>>();
  /** The buckets' numbers as a binary min-heap: the next one to fire first. */
  #order: number[] = [];
  #timer: TimerHandle | undefined;
  #armedFor = Infinity;
  /** Deadlines not run or cancelled yet: at none, the timer is stopped (no tick in an idle
   * process, nothing left running after a test). */
  #pending = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** `run` is called once `ms` have passed, unless cancel() takes it off first. */
  add(ms: number, run: () => void): Deadline {
    const bucket = Math.ceil((this.#clock.now() + ms) / RESOLUTION_MS);
    let due = this.#buckets.get(bucket);
    if (due === undefined) {
      due = new Set();
      this.#buckets.set(bucket, due);
      push(this.#order, bucket);
    }
    const deadline = new Deadline(bucket, run);
    due.add(deadline);
    this.#pending++;
    if (bucket < this.#armedFor) this.#arm(bucket);
    return deadline;
  }

  cancel(deadline: Deadline | undefined): void {
    if (!deadline || !this.#buckets.get(deadline.bucket)?.delete(deadline)) return;
    if (--this.#pending > 0) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    this.#buckets.clear();
    this.#order.length = 0;
  }

  #arm(bucket: number): void {
    this.#clock.clearTimeout(this.#timer);
    this.#armedFor = bucket;
    // A delay past 2^31 - 1 ms would fire at once (Node's and Deno's timers); capped, the timer
    // fires early, finds nothing due and re-arms for the rest.
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(bucket * RESOLUTION_MS - this.#clock.now())));
    this.#timer = this.#clock.setTimeout(() => this.#fire(), wait);
  }

  /** Runs every deadline whose bucket has ended, then arms the timer for the next bucket. One that
   * throws does not keep the others from running; the first error is rethrown after them. */
  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const ended = Math.floor(this.#clock.now() / RESOLUTION_MS);
    let failure: { error: unknown } | undefined;
    while (this.#order.length > 0 && this.#order[0]! <= ended) {
      const bucket = pop(this.#order);
      const due = this.#buckets.get(bucket);
      // Taken out one by one, the bucket still listed: a deadline that cancels another one of its
      // bucket keeps it from running, as clearTimeout would.
      for (const deadline of due ?? []) {
        due!.delete(deadline);
        this.#pending--;
        try {
          deadline.run();
        } catch (error) {
          failure ??= { error };
        }
      }
      this.#buckets.delete(bucket);
    }
    const next = this.#order[0];
    if (next !== undefined && next < this.#armedFor) this.#arm(next);
    if (failure) throw failure.error;
  }
}

/** The process's handshake deadlines, on a monotonic clock. */
export const deadlines = new Deadlines({ ...systemClock, now: () => performance.now() });

function push(heap: number[], value: number): void {
  let at = heap.push(value) - 1;
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[at] = heap[parent]!;
    at = parent;
  }
  heap[at] = value;
}

function pop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  let at = 0;
  while (true) {
    const left = 2 * at + 1;
    if (left >= heap.length) break;
    const child = left + 1 < heap.length && heap[left + 1]! < heap[left]! ? left + 1 : left;
    if (heap[child]! >= last) break;
    heap[at] = heap[child]!;
    at = child;
  }
  heap[at] = last;
  return top;
}
