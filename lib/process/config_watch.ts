/**
 * `watch_config: true`: reload when the config file changes, as SIGHUP does. The file is read
 * every POLL_MS and its text compared with the last one seen, rather than watched with inotify:
 * reading follows symlinks, so an in-place write, an editor's atomic rename and a Kubernetes
 * ConfigMap's `..data` symlink swap all look the same (other bytes), whereas an inotify watch
 * follows the inode and misses the last two. Debounced: a new text is applied once it has held
 * still for one poll, so a file caught half-written is not reloaded. A file that cannot be read
 * (deleted, a symlink loop) is logged once per streak and waited out; the running config stays.
 */
import { describeError } from "../errors.ts";
import type { Logger } from "../observe/log.ts";

/** A change is in use within about 2 polls plus the reload (DESIGN §3c: 2 s). */
export const POLL_MS = 500;

export interface ConfigWatchOptions {
  readTextFile(path: string): Promise<string>;
  logger: Logger;
  /** Read at every poll: the running config may turn watching off and on. */
  enabled(): boolean;
  /** The reload; the next poll waits for it. */
  reload(): Promise<unknown>;
  pollMs?: number;
}

/** Watches `path` until stop(); resolves once the text to compare with has been read, so a change
 * made after the gateway said `ready` is never taken for the baseline. */
export async function watchConfigFile(path: string, options: ConfigWatchOptions): Promise<{ stop(): void }> {
  const { logger } = options;
  const pollMs = options.pollMs ?? POLL_MS;
  let seen: string | undefined;
  let pending: string | undefined;
  let failing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const poll = async (): Promise<void> => {
    if (!options.enabled()) {
      // Off: the next time it is on, compare with the file as it is then.
      seen = pending = undefined;
      return;
    }
    let text: string;
    try {
      text = await options.readTextFile(path);
    } catch (err) {
      if (!failing) {
        logger.log("warn", "config_watch_failed", {
          config: path,
          reason: describeError(err),
          note: "still running the loaded config; watching for the file to come back",
        });
      }
      failing = true;
      return;
    }
    if (failing) logger.log("info", "config_watch_recovered", { config: path });
    failing = false;
    if (seen === undefined || text === seen) {
      seen = text;
      pending = undefined;
      return;
    }
    if (text !== pending) {
      pending = text;
      return;
    }
    seen = text;
    pending = undefined;
    logger.log("info", "config_changed", { config: path });
    await options.reload();
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => poll().catch(() => {}).finally(schedule), pollMs);
  };
  // The text at start is the baseline; a change after the config was loaded and before this
  // first read is seen at the next SIGHUP, not here.
  await poll().catch(() => {});
  schedule();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
