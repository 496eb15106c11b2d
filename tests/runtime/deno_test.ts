import assert from "node:assert/strict";
import { runtime } from "../../lib/runtime/deno.ts";
import { EXPECTED, runSeamChecks } from "./_seam_checks.ts";

Deno.test("Deno adapter: bulk, half-close, backpressure, errors, unix, TLS, close", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.deepEqual(await runSeamChecks(runtime, dir), EXPECTED);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
