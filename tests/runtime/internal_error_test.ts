import assert from "node:assert/strict";

const PROBE = new URL("./_internal_error_probe.ts", import.meta.url).pathname;
const WANT = { caught: ["a rejected promise", "thrown in a timer"], then: "alive" };

async function probe(cmd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, out: decode(out.stdout), err: decode(out.stderr) };
}

// Without the handler both runtimes end the process at the timer's throw: every tunnel gone.
for (
  const [name, cmd, args] of [
    ["Deno", Deno.execPath(), ["run", "--allow-all", PROBE]],
    ["Bun", "bun", [PROBE]],
  ] as const
) {
  Deno.test(`${name}: a throw in a callback and a rejected promise reach onInternalError; the process goes on`, async () => {
    const { code, out, err } = await probe(cmd, [...args]);
    assert.equal(code, 0, err);
    assert.deepEqual(JSON.parse(out.trim().split("\n").at(-1)!), WANT, err);
  });
}
