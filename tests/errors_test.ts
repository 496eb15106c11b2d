import assert from "node:assert/strict";
import {
  answerHeaders,
  describeError,
  HttpError,
  isOwnFailure,
  NetError,
  toStatus,
  UpstreamError,
} from "../lib/errors.ts";

Deno.test("describeError: the cause is added once, not when the message already says it", () => {
  const cases: { name: string; err: unknown; want: string }[] = [
    { name: "plain error", err: new Error("boom"), want: "boom" },
    {
      name: "cause added",
      err: new Error("cannot listen on :80", { cause: new Error("EACCES") }),
      want: "cannot listen on :80: EACCES",
    },
    {
      name: "cause already in the message",
      err: new NetError("ECONNREFUSED", "connect failed: Connection refused (os error 111)", {
        cause: new Error("Connection refused (os error 111)"),
      }),
      want: "connect failed: Connection refused (os error 111)",
    },
    { name: "not an Error", err: "just text", want: "just text" },
  ];
  for (const { name, err, want } of cases) assert.equal(describeError(err), want, name);
});

Deno.test("toStatus: the error decides the status", () => {
  assert.equal(toStatus(new HttpError(426, "x")), 426);
  assert.equal(toStatus(new Error("bug")), 500);
});

Deno.test("the gateway's own failures (out of descriptors or memory) are 503 + Retry-After, never a server's", () => {
  for (const code of ["EMFILE", "ENFILE", "ENOMEM", "ENOBUFS"] as const) {
    const cause = new NetError(code, "out of it");
    const dial = new UpstreamError("connect", "127.0.0.1:8080", "connect failed", { retryable: true, cause });
    assert.ok(isOwnFailure(cause) && dial.own, code);
    // Another server would fail the same way.
    assert.equal(dial.retryable, false, code);
    for (const err of [cause, dial]) {
      assert.equal(toStatus(err), 503, code);
      assert.deepEqual(answerHeaders(err), [["Retry-After", "1"]], code);
    }
  }
  const allocation = new RangeError("Array buffer allocation failed");
  assert.ok(isOwnFailure(allocation));
  assert.equal(toStatus(allocation), 503);
  // The server's failures and the client's stay what they were.
  const refused = new UpstreamError("connect", "127.0.0.1:8080", "connect failed", {
    retryable: true,
    cause: new NetError("ECONNREFUSED", "Connection refused (os error 111)"),
  });
  assert.ok(!refused.own && refused.retryable);
  assert.equal(toStatus(refused), 502);
  assert.deepEqual(answerHeaders(refused), []);
  assert.equal(toStatus(new NetError("ECONNRESET", "reset")), 499);
});
