/**
 * Many listeners on one AbortSignal at O(1) each. Every open tracked tunnel (track_frames) listens on
 * the gateway's one drain signal, and EventTarget's addEventListener and removeEventListener scan
 * the signal's listener list (to refuse duplicates) on Deno and Bun alike: with 10,000 tunnels
 * open, one add + remove cost 180-260 µs, with 30,000 about 1 ms, paid by every new tunnel
 * (bench/RESULTS.md, growth). Here the signal gets one listener, each subscriber a Set entry.
 */
const subscribers = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Like `signal.addEventListener("abort", run, { once: true })`: `run` is called when the signal
 * aborts, unless offAbort() took it off first; on a signal already aborted it never is (the caller
 * checks `aborted` where that matters, as with an event listener). Subscribers run in the order
 * they subscribed; the same function subscribed twice runs once, as a listener would. Nothing is
 * returned: a tracked tunnel keeps its one subscriber, not an unsubscribe closure besides it
 * (memory per idle tunnel).
 */
export function onAbort(signal: AbortSignal, run: () => void): void {
  if (signal.aborted) return;
  let set = subscribers.get(signal);
  if (set === undefined) {
    const fresh = new Set<() => void>();
    subscribers.set(signal, fresh);
    signal.addEventListener("abort", () => {
      // A subscriber that unsubscribes another one meanwhile keeps it from running, as
      // removeEventListener does during a dispatch (so the set stays findable until the end);
      // one that throws does not stop the others.
      let failure: { error: unknown } | undefined;
      for (const subscriber of fresh) {
        fresh.delete(subscriber);
        try {
          subscriber();
        } catch (error) {
          failure ??= { error };
        }
      }
      subscribers.delete(signal);
      if (failure) throw failure.error;
    }, { once: true });
    set = fresh;
  }
  set.add(run);
}

/** Like removeEventListener: `run` will not be called (again) for this signal. */
export function offAbort(signal: AbortSignal, run: () => void): void {
  subscribers.get(signal)?.delete(run);
}
