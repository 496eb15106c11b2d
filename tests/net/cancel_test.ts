import assert from "node:assert/strict";
import { Cancel, type CancelSignal } from "../../lib/net/cancel.ts";

Deno.test("cancel: listeners run once, in order, with the reason set; later aborts change nothing", () => {
  const cancel = new Cancel();
  const seen: string[] = [];
  cancel.addEventListener("abort", () => seen.push(`a:${String(cancel.reason)}`));
  cancel.addEventListener("abort", () => seen.push("b"));
  assert.ok(!cancel.aborted);
  cancel.throwIfAborted();
  cancel.abort("first");
  cancel.abort("second");
  assert.ok(cancel.aborted);
  assert.deepEqual(cancel.reason, "first");
  assert.deepEqual(seen, ["a:first", "b"]);
  assert.throws(() => cancel.throwIfAborted(), (err: unknown) => err === "first");
});

Deno.test("cancel: a listener added twice runs once; a removed one never", () => {
  const cancel = new Cancel();
  let twice = 0;
  let removed = 0;
  const once = () => twice++;
  const gone = () => removed++;
  cancel.addEventListener("abort", once);
  cancel.addEventListener("abort", once);
  cancel.addEventListener("abort", gone);
  cancel.removeEventListener("abort", gone);
  cancel.removeEventListener("abort", () => {}); // not listening: nothing happens
  cancel.abort(new Error("x"));
  assert.deepEqual([twice, removed], [1, 0]);
});

Deno.test("cancel: a listener removed by an earlier one during the abort does not run, as with AbortSignal", () => {
  for (const make of [() => new Cancel(), () => new AbortController()]) {
    const controller = make();
    const signal: CancelSignal = controller instanceof Cancel ? controller : controller.signal;
    const seen: string[] = [];
    const second = () => seen.push("second");
    signal.addEventListener("abort", () => {
      seen.push("first");
      signal.removeEventListener("abort", second);
    });
    signal.addEventListener("abort", second);
    controller.abort("why");
    assert.deepEqual(seen, ["first"], controller.constructor.name);
  }
});

Deno.test("cancel: once aborted, a new listener never runs", () => {
  const cancel = new Cancel();
  cancel.abort("done");
  let ran = false;
  cancel.addEventListener("abort", () => ran = true);
  cancel.abort("again");
  assert.ok(!ran);
});

Deno.test("cancel: a listener that throws does not stop the others; its error comes out after them", () => {
  const cancel = new Cancel();
  const seen: string[] = [];
  cancel.addEventListener("abort", () => {
    seen.push("throws");
    throw new Error("listener failed");
  });
  cancel.addEventListener("abort", () => seen.push("runs"));
  assert.throws(() => cancel.abort("why"), /listener failed/);
  assert.deepEqual(seen, ["throws", "runs"]);
  assert.ok(cancel.aborted);
});
