/**
 * Run by internal_error_test.ts on Deno and on Bun: what nothing caught reaches the runtime's
 * onInternalError and the process goes on. Prints the errors it was told about, then "alive".
 */
import { loadRuntime } from "../../lib/runtime/mod.ts";

const runtime = await loadRuntime();
const caught: string[] = [];
runtime.onInternalError((error) => caught.push(error instanceof Error ? error.message : String(error)));
setTimeout(() => {
  throw new Error("thrown in a timer");
}, 0);
Promise.reject(new Error("a rejected promise"));
setTimeout(() => console.log(JSON.stringify({ caught: caught.sort(), then: "alive" })), 100);
