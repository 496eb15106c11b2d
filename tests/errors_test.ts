import assert from "node:assert/strict";
import { describeError, HttpError, NetError, toStatus } from "../lib/errors.ts";

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
