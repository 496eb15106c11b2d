/**
 * LOG: one record per line on stdout, as text (`<time> <level> <event> key=value ...`) or JSON.
 * Access records are written once per connection, when it ends; rejections get a `reject` line.
 */
import type { LogFormat } from "./config/schema.ts";

export type Level = "info" | "warn" | "error";
export type Fields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  log(level: Level, event: string, fields?: Fields): void;
}

const SAFE_VALUE = /^[\w.:\/\[\]@*+,-]+$/;

export function formatText(time: string, level: Level, event: string, fields: Fields): string {
  let line = `${time} ${level} ${event}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value);
    line += ` ${key}=${SAFE_VALUE.test(text) ? text : JSON.stringify(text)}`;
  }
  return line;
}

export function formatJson(time: string, level: Level, event: string, fields: Fields): string {
  return JSON.stringify({ time, level, event, ...fields });
}

/** `base` fields go on every record (a worker's number, so interleaved logs stay readable). */
export function createLogger(format: LogFormat, base: Fields = {}, write: (line: string) => void = console.log): Logger {
  const formatLine = format === "json" ? formatJson : formatText;
  const hasBase = Object.keys(base).length > 0;
  return {
    log(level, event, fields = {}) {
      write(formatLine(new Date().toISOString(), level, event, hasBase ? { ...base, ...fields } : fields));
    },
  };
}
