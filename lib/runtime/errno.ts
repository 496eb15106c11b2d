/**
 * Socket errors in the same words on both runtimes. Deno words them as Rust does, the C library's
 * text and the number ("Connection refused (os error 111)"); Bun says less ("Failed to connect",
 * "Failed to listen at 127.0.0.1") and names the cause only in `code`. The Bun side (bun.ts,
 * node_tls.ts) maps `code` to Deno's words, so that a log line names the same cause whichever
 * runtime wrote it (docs/runtime.md §3.1). Numbers and texts are Linux's (glibc).
 */
import { NetError, type NetErrorCode } from "../errors.ts";

const OS_WORDS: Partial<Record<NetErrorCode, string>> = {
  ENOENT: "No such file or directory (os error 2)",
  ENOMEM: "Cannot allocate memory (os error 12)",
  EACCES: "Permission denied (os error 13)",
  ENFILE: "Too many open files in system (os error 23)",
  EMFILE: "Too many open files (os error 24)",
  EPIPE: "Broken pipe (os error 32)",
  EADDRINUSE: "Address already in use (os error 98)",
  ECONNRESET: "Connection reset by peer (os error 104)",
  ENOBUFS: "No buffer space available (os error 105)",
  ETIMEDOUT: "Connection timed out (os error 110)",
  ECONNREFUSED: "Connection refused (os error 111)",
};

const KNOWN = new Set(Object.keys(OS_WORDS)) as ReadonlySet<string>;

/** The NetErrorCode that a node-style error's `code` ("ECONNREFUSED") names, else `fallback`. */
export function codeOf(err: unknown, fallback: NetErrorCode = "EOTHER"): NetErrorCode {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== "string") return fallback;
  if (KNOWN.has(code)) return code as NetErrorCode;
  return code.startsWith("ERR_TLS") || code.includes("CERT") ? "TLS" : fallback;
}

/** An OS error of this code, as Deno words it. */
export function osError(code: NetErrorCode): NetError {
  return new NetError(code, OS_WORDS[code] ?? code);
}

/** A socket error from Bun or node:tls as a NetError, in Deno's words where the code has them.
 * Bun's own text is then dropped rather than kept as the cause: it says nothing more, and
 * describeError would print it after Deno's words. */
export function socketError(err: unknown, fallback: NetErrorCode = "EOTHER"): NetError {
  if (err instanceof NetError) return err;
  const code = codeOf(err, fallback);
  if (OS_WORDS[code] !== undefined) return osError(code);
  return new NetError(code, err instanceof Error ? err.message : String(err), { cause: err });
}
