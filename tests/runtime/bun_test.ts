import assert from "node:assert/strict";
import { EXPECTED } from "./_seam_checks.ts";

// The same checks as deno_test.ts, on the Bun adapter: half-close must really send FIN
// (Bun's end() would close both directions), partial writes must wait for drain.
Deno.test("Bun adapter: bulk, half-close, backpressure, errors, unix, TLS, close", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = new URL("./_bun_checks.ts", import.meta.url).pathname;
    // `bun` when it is on PATH (CI installs it), else the same version through npx: no root needed.
    const [cmd, ...pre] = await onPath("bun") ? ["bun"] : ["npx", "-y", "bun@1.4.5"];
    const out = await new Deno.Command(cmd!, {
      args: [...pre, script, dir],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, `bun exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
    assert.deepEqual(JSON.parse(stdout.trim().split("\n").at(-1)!), EXPECTED);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function onPath(command: string): Promise<boolean> {
  try {
    return (await new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}
