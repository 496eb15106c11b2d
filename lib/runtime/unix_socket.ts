/**
 * `listen: unix:PATH` when PATH already exists: only a stale socket, a socket file nobody answers
 * on (left by a process that died), is removed so that the listener can take its place. Anything
 * else there is a start error naming it: a regular file, a directory or a symlink may hold data
 * (a typo in the path must not delete it), and a socket in use belongs to a running process.
 * A socket is stale only when no process has it bound (Linux lists bound unix sockets in
 * /proc/net/unix) and a connect to it is refused (ECONNREFUSED): any other failure, such as a full
 * accept queue (EAGAIN, which Bun's node:net reports as a refusal), means a process still owns it.
 * node:fs and node:net, so that both runtime adapters share it.
 */
import { lstatSync, readFileSync, type Stats, unlinkSync } from "node:fs";
import { connect } from "node:net";
import { NetError } from "../errors.ts";

function kindOf(stats: Stats): string {
  if (stats.isFile()) return "a regular file";
  if (stats.isDirectory()) return "a directory";
  if (stats.isSymbolicLink()) return "a symbolic link";
  if (stats.isFIFO()) return "a named pipe";
  return "a device";
}

/**
 * After a listen on `path` failed: removes a stale socket there and returns true (listen again);
 * false when nothing is there (the failure had another cause). Throws a NetError naming `path`
 * when something else is there.
 */
export async function removeStaleSocket(path: string): Promise<boolean> {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch {
    return false;
  }
  if (!stats.isSocket()) {
    throw new NetError(
      "EADDRINUSE",
      `${path} exists and is ${kindOf(stats)}; only a stale socket is replaced`,
    );
  }
  if (boundByAProcess(path)) throw new NetError("EADDRINUSE", `${path} is in use by another process`);
  const refusal = await connectError(path);
  if (refusal !== "ECONNREFUSED") {
    const how = refusal === undefined ? "" : ` (a connect to it failed with ${refusal})`;
    throw new NetError("EADDRINUSE", `${path} is in use by another process${how}`);
  }
  unlinkSync(path);
  return true;
}

/** Whether /proc/net/unix lists a socket bound to `path` (false where there is no such file). */
function boundByAProcess(path: string): boolean {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "utf8");
  } catch {
    return false;
  }
  return table.split("\n").some((line) => line.endsWith(` ${path}`));
}

/** The error code of a connect to the unix socket at `path`; undefined when it was accepted. */
function connectError(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once("error", (err: Error & { code?: string }) => resolve(err.code ?? "EOTHER"));
  });
}

/** After our listener on `path` closed: removes the socket file, and nothing that is not one. */
export function removeOwnSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Already gone (or never created): nothing to clean up.
  }
}
