/** watchConfigFile(): what counts as a change, the debounce, unreadable files, turning it off. */
import assert from "node:assert/strict";
import { watchConfigFile } from "../../lib/process/config_watch.ts";
import { recordingLogger } from "../upstream/_upstreams.ts";

/** A file held in memory; every read is counted, so the test can wait for polls instead of time. */
function fakeFile(initial: string | Error) {
  const file = { content: initial, reads: 0 };
  const read = () => {
    file.reads++;
    return file.content instanceof Error ? Promise.reject(file.content) : Promise.resolve(file.content);
  };
  return { file, read };
}

/** A watch on `file` every 5 ms, always enabled, counting its reloads. */
async function watching(read: () => Promise<string>) {
  const logger = recordingLogger();
  const state = { reloads: 0 };
  const watch = await watchConfigFile("/etc/wsgate.yaml", {
    readTextFile: read,
    logger,
    enabled: () => true,
    reload: () => Promise.resolve(state.reloads++),
    pollMs: 5,
  });
  return { logger, state, watch };
}

async function polls(file: { reads: number }, n: number): Promise<void> {
  const target = file.reads + n;
  while (file.reads < target) await new Promise((resolve) => setTimeout(resolve, 2));
}

Deno.test("watchConfigFile(): a new text is reloaded once it held still for a poll; the same text never", async () => {
  const { file, read } = fakeFile("a");
  const { logger, state, watch } = await watching(read);
  try {
    await polls(file, 3);
    assert.equal(state.reloads, 0, "the text at start is the baseline");
    // Half-written, then complete: only the complete text is applied, once.
    file.content = "b-partial";
    await polls(file, 1);
    file.content = "b";
    await polls(file, 4);
    assert.equal(state.reloads, 1);
    // Written again with the same bytes: no change.
    await polls(file, 3);
    assert.equal(state.reloads, 1);
    assert.deepEqual(logger.records.map((r) => r.event), ["config_changed"]);
  } finally {
    watch.stop();
  }
});

Deno.test("watchConfigFile(): an unreadable file is logged once per streak; its return with new text reloads", async () => {
  const { file, read } = fakeFile("a");
  const { logger, state, watch } = await watching(read);
  try {
    file.content = new Error("No such file or directory (os error 2)");
    await polls(file, 4);
    file.content = new Error("Too many levels of symbolic links (os error 40)");
    await polls(file, 4);
    file.content = "a";
    await polls(file, 3);
    assert.equal(state.reloads, 0, "back with the text it had: nothing to do");
    file.content = new Error("gone again");
    await polls(file, 2);
    file.content = "b";
    await polls(file, 4);
    assert.equal(state.reloads, 1);
    assert.deepEqual(logger.records.map((r) => `${r.level} ${r.event} ${r.fields.reason ?? ""}`.trim()), [
      "warn config_watch_failed No such file or directory (os error 2)",
      "info config_watch_recovered",
      "warn config_watch_failed gone again",
      "info config_watch_recovered",
      "info config_changed",
    ]);
  } finally {
    watch.stop();
  }
});

Deno.test("watchConfigFile(): while the running config says watch_config: false, nothing is read", async () => {
  const { file, read } = fakeFile("a");
  let enabled = false;
  let reloads = 0;
  let ticks = 0;
  const watch = await watchConfigFile("/etc/wsgate.yaml", {
    readTextFile: read,
    logger: recordingLogger(),
    enabled: () => (ticks++, enabled),
    reload: () => Promise.resolve(reloads++),
    pollMs: 5,
  });
  try {
    while (ticks < 5) await new Promise((resolve) => setTimeout(resolve, 2));
    assert.equal(file.reads, 0);
    file.content = "b";
    enabled = true;
    // Turned on: the file as it is then is the baseline.
    await polls(file, 4);
    assert.equal(reloads, 0);
  } finally {
    watch.stop();
  }
});
