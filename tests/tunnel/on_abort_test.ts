/** onAbort() / offAbort(): an abort listener per subscriber without one EventTarget listener each. */
import assert from "node:assert/strict";
import { offAbort, onAbort } from "../../lib/tunnel/on_abort.ts";

/** Subscribes `run`; the returned function takes it off again. */
function subscribe(signal: AbortSignal, run: () => void): () => void {
  onAbort(signal, run);
  return () => offAbort(signal, run);
}

/** A real AbortController whose signal counts the listeners added to it and removed from it. */
function countingController() {
  const controller = new AbortController();
  const counts = { added: 0, removed: 0 };
  const signal = controller.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>) => {
    counts.added++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<typeof remove>) => {
    counts.removed++;
    remove(...args);
  };
  return { controller, counts };
}

Deno.test("onAbort: subscribers run once each, in order; those that left do not", () => {
  const controller = new AbortController();
  const ran: string[] = [];
  onAbort(controller.signal, () => ran.push("a"));
  const leave = subscribe(controller.signal, () => ran.push("b"));
  onAbort(controller.signal, () => ran.push("c"));
  leave();
  leave(); // twice is harmless
  controller.abort();
  controller.abort(); // a second abort dispatches nothing
  assert.deepEqual(ran, ["a", "c"]);
});

Deno.test("onAbort: thousands of subscribers put one listener on the signal", () => {
  const { controller, counts } = countingController();
  const leaves = Array.from({ length: 5_000 }, () => subscribe(controller.signal, () => {}));
  for (const leave of leaves) leave();
  let ran = 0;
  onAbort(controller.signal, () => ran++);
  controller.abort();
  assert.deepEqual(counts, { added: 1, removed: 0 });
  assert.equal(ran, 1);
});

Deno.test("onAbort: on a signal already aborted nothing runs, as with a listener", () => {
  const controller = new AbortController();
  controller.abort();
  let ran = 0;
  const leave = subscribe(controller.signal, () => ran++);
  leave();
  assert.equal(ran, 0);
  // After an abort, a new controller's signal starts its own set.
  const next = new AbortController();
  onAbort(next.signal, () => ran++);
  next.abort();
  assert.equal(ran, 1);
});

Deno.test("onAbort: during the abort, a subscriber that removes a later one keeps it from running", () => {
  const controller = new AbortController();
  const ran: string[] = [];
  let leaveLast = () => {};
  onAbort(controller.signal, () => {
    ran.push("first");
    leaveLast();
  });
  leaveLast = subscribe(controller.signal, () => ran.push("last"));
  controller.abort();
  assert.deepEqual(ran, ["first"]);
});

Deno.test("onAbort: one subscriber throwing does not keep the others from running", () => {
  const controller = new AbortController();
  const ran: string[] = [];
  onAbort(controller.signal, () => {
    throw new Error("boom");
  });
  onAbort(controller.signal, () => ran.push("after"));
  const errors: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    errors.push(event.error);
    event.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  try {
    controller.abort();
  } finally {
    globalThis.removeEventListener("error", onError);
  }
  assert.deepEqual(ran, ["after"]);
  assert.equal((errors[0] as Error | undefined)?.message, "boom");
});

Deno.test("onAbort: the same function subscribed twice runs once, as a listener would", () => {
  const controller = new AbortController();
  let ran = 0;
  const run = () => ran++;
  onAbort(controller.signal, run);
  onAbort(controller.signal, run);
  controller.abort();
  assert.equal(ran, 1);
});
