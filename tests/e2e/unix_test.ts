/** Unix sockets on both sides: `--listen unix:/path` and `--upstream unix:/path`. */
import assert from "node:assert/strict";
import { denoEchoBackend, wsEchoBackend } from "./_backends.ts";
import { openDenoWs, RawWs } from "./_clients.ts";
import { runGateway, startGateway, tempDir } from "./_harness.ts";
import { text } from "./_wire.ts";

Deno.test("unix: a unix-socket listener takes a raw handshake and tunnels", async () => {
  await using tmp = await tempDir();
  await using backend = await wsEchoBackend();
  const path = `${tmp.path}/gw.sock`;
  await using gw = await startGateway({ args: ["--listen", `unix:${path}`, "--upstream", backend.address] });
  assert.deepEqual(gw.addrs, [`unix:${path}`]);
  assert.deepEqual(gw.transports, ["unix"]);
  await using client = await RawWs.open({ path }, { path: "/over-unix" });
  assert.equal(client.response.status, 101);
  await client.sendText("through a unix socket");
  assert.equal(text((await client.next())!.payload), "through a unix socket");
  assert.equal(backend.requests.at(-1)!.url, "/over-unix");
});

Deno.test("unix: a unix-socket upstream", async () => {
  await using tmp = await tempDir();
  await using backend = await denoEchoBackend({ path: `${tmp.path}/backend.sock` });
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  await using client = await openDenoWs(`ws://127.0.0.1:${gw.port}/to-unix`);
  client.send("to a unix backend");
  assert.equal(await client.next(), "to a unix backend");
  assert.equal(backend.requests.at(-1)!.url, "/to-unix");
});

/** A socket file left by a process that died without removing it. */
async function staleSocket(path: string): Promise<void> {
  const script = `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); Deno.exit(0);`;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", script] }).output();
  assert.equal(out.code, 0);
  assert.ok(Deno.lstatSync(path).isSocket, "the socket file stays behind");
}

const FULL_QUEUE = `
import socket, sys, time
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(0)
pending = socket.socket(socket.AF_UNIX)
pending.connect(path)
print("ready", flush=True)
time.sleep(30)
`;

Deno.test("unix: a stale socket file at the listen path is replaced", async () => {
  await using tmp = await tempDir();
  await using backend = await wsEchoBackend();
  const path = `${tmp.path}/gw.sock`;
  await staleSocket(path);
  await using gw = await startGateway({ args: ["--listen", `unix:${path}`, "--upstream", backend.address] });
  assert.deepEqual(gw.addrs, [`unix:${path}`]);
  await using client = await RawWs.open({ path }, { path: "/replaced" });
  assert.equal(client.response.status, 101);
});

Deno.test("unix: any other file at the listen path is a start error naming it, and is left as it was", async (t) => {
  await using tmp = await tempDir();
  /** Each puts something at `path`, and returns the check that it is still there, unchanged. */
  const cases: Record<string, (path: string) => Promise<() => unknown> | (() => unknown)> = {
    "a regular file": async (path) => {
      await Deno.writeTextFile(path, "precious data\n");
      return () => assert.equal(Deno.readTextFileSync(path), "precious data\n");
    },
    "a directory": async (path) => {
      await Deno.mkdir(path);
      await Deno.writeTextFile(`${path}/inside`, "kept");
      return () => assert.equal(Deno.readTextFileSync(`${path}/inside`), "kept");
    },
    "a symlink to a file": async (path) => {
      await Deno.writeTextFile(`${path}.target`, "target data");
      await Deno.symlink(`${path}.target`, path);
      return () => {
        assert.ok(Deno.lstatSync(path).isSymlink);
        assert.equal(Deno.readTextFileSync(`${path}.target`), "target data");
      };
    },
    "a socket in use": (path) => {
      const listener = Deno.listen({ transport: "unix", path });
      return () => {
        assert.ok(Deno.lstatSync(path).isSocket);
        listener.close();
      };
    },
    "a socket in use with a full accept queue": async (path) => {
      // listen(0) and one connection nobody accepts: a further connect fails with EAGAIN, not
      // ECONNREFUSED, and the socket still belongs to its process.
      const owner = new Deno.Command("python3", {
        args: ["-c", FULL_QUEUE, path],
        stdout: "piped",
      }).spawn();
      const reader = owner.stdout.getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value).trim(), "ready");
      return async () => {
        assert.ok(Deno.lstatSync(path).isSocket);
        owner.kill();
        reader.releaseLock();
        await owner.stdout.cancel();
        await owner.status;
      };
    },
  };
  for (const [what, make] of Object.entries(cases)) {
    await t.step(what, async () => {
      const path = `${tmp.path}/${what.replaceAll(" ", "-")}`;
      const unchanged = await make(path);
      const run = await runGateway(["--listen", `unix:${path}`, "--upstream", "127.0.0.1:9"], {
        timeoutMs: 5_000,
      });
      const output = run.stdout + run.stderr;
      assert.notEqual(run.code, 0, output);
      assert.ok(output.includes(path), output);
      assert.doesNotMatch(output, /^\s+at /m, "no stack trace");
      await unchanged();
    });
  }
});

Deno.test("unix: a clean stop removes the listening socket's file", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.path}/gw.sock`;
  await using gw = await startGateway({ args: ["--listen", `unix:${path}`, "--upstream", "127.0.0.1:9"] });
  assert.ok(Deno.lstatSync(path).isSocket, "the socket is there while it runs");
  const status = await gw.stop("SIGTERM");
  assert.equal(status.code, 0);
  assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound, "gone after a clean stop");
});
