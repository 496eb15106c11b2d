/**
 * The building blocks of validation: typed readers that turn a raw value into a typed one or a
 * reported issue with its key path. Pure; validate.ts says which keys exist and what they mean.
 */
import { isAbsolute, join } from "node:path";
import { parseDuration } from "./duration.ts";

export type KeyPath = (string | number)[];

export interface ConfigIssue {
  path: KeyPath;
  message: string;
  /** Point at the key itself (unknown keys) rather than its value. */
  atKey?: boolean;
}

/** A file the config names (PEM, a token); load.ts reads it, `read` checks it, `fill` keeps it. */
export interface ConfigFile {
  /** Where the file name is written, for messages. */
  path: KeyPath;
  /** Resolved against baseDir. */
  file: string;
  /** The value to keep, or why the text is not what the key needs ("is empty"). */
  read: ReadFile;
  fill(value: string): void;
}

/** A file's text -> the value kept; an Invalid's message follows the file's name. */
export type ReadFile = (text: string) => string | Invalid;

export type Raw = Record<string, unknown>;

export function isRecord(value: unknown): value is Raw {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value's reason for being rejected; parsers return it instead of throwing. */
export class Invalid {
  constructor(readonly message: string) {}
}
export type Parse<T> = (value: unknown) => T | Invalid;

export const asString: Parse<string> = (value) =>
  typeof value !== "string"
    ? new Invalid("must be a string")
    : value === ""
    ? new Invalid("must not be empty")
    : value;

export const asBoolean: Parse<boolean> = (value) =>
  typeof value === "boolean" ? value : new Invalid("must be true or false");

export function asOneOf<T extends string>(choices: readonly T[]): Parse<T> {
  return (value) => choices.find((c) => c === value) ?? new Invalid(`must be one of: ${choices.join(", ")}`);
}

export function asInteger(min: number, max?: number): Parse<number> {
  const message = max === undefined
    ? "must be a positive integer"
    : `must be an integer from ${min} to ${max}`;
  return (value) =>
    typeof value === "number" && Number.isInteger(value) && value >= min && value <= (max ?? Infinity)
      ? value
      : new Invalid(message);
}

const DURATION_HINT = "must be a duration like 250ms, 30s, 5m, 2h, 1d";

/** `positive`: 0 would make the timer fire at once, so only timeouts documented as "0 = off" allow it. */
export function asDuration(options: { positive: boolean; max?: number }): Parse<number> {
  return (value) => {
    if (typeof value !== "string" && typeof value !== "number") return new Invalid(DURATION_HINT);
    const ms = parseDuration(value, options.max);
    if (typeof ms !== "number") return new Invalid(`${DURATION_HINT} (${ms.error})`);
    if (options.positive && ms === 0) return new Invalid("must be greater than 0");
    return ms;
  };
}

const asPem: ReadFile = (text) =>
  text.includes("-----BEGIN") ? text : new Invalid("does not look like a PEM file");

/** Collects issues and file references while the config is read. */
export class Reader {
  readonly issues: ConfigIssue[] = [];
  readonly files: ConfigFile[] = [];
  readonly #baseDir: string;
  /** Keys the runtime cannot honour (key name -> why): reported where they are written. */
  readonly unsupported: Readonly<Record<string, string>>;

  constructor(baseDir: string, unsupported: Readonly<Record<string, string>> = {}) {
    this.#baseDir = baseDir;
    this.unsupported = unsupported;
  }

  report(path: KeyPath, message: string, atKey = false): void {
    this.issues.push(atKey ? { path, message, atKey } : { path, message });
  }

  /** A path as written in the config, resolved against baseDir. */
  resolve(written: string): string {
    return isAbsolute(written) ? written : join(this.#baseDir, written);
  }

  /** Notes a file for load.ts to read; returns its path resolved against baseDir. */
  file(path: KeyPath, written: string, read: ReadFile, fill: (value: string) => void): string {
    const file = this.resolve(written);
    this.files.push({ path, file, read, fill });
    return file;
  }

  pemFile(path: KeyPath, written: string, fill: (pem: string) => void): string {
    return this.file(path, written, asPem, fill);
  }

  /** `value` as a mapping, reporting keys not in `keys` (when given); undefined (reported) if not a mapping. */
  mapping(value: unknown, path: KeyPath, keys?: readonly string[]): Raw | undefined {
    if (!isRecord(value)) {
      this.report(path, "must be a mapping (key: value)");
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (keys === undefined || keys.includes(key)) continue;
      const hint = closest(key, keys);
      const known = hint ? `did you mean "${hint}"?` : `expected one of: ${keys.join(", ")}`;
      this.report([...path, key], `unknown key "${key}"; ${known}`, true);
    }
    return value;
  }

  /** An optional nested mapping; {} when absent or invalid, so defaults apply. */
  section(obj: Raw, key: string, path: KeyPath, keys: readonly string[]): Raw {
    return obj[key] === undefined ? {} : this.mapping(obj[key], [...path, key], keys) ?? {};
  }

  /** obj[key] parsed; undefined when absent or invalid (reported). */
  get<T>(obj: Raw, key: string, path: KeyPath, parse: Parse<T>): T | undefined {
    if (obj[key] === undefined) return undefined;
    const result = parse(obj[key]);
    if (!(result instanceof Invalid)) return result;
    this.report([...path, key], result.message);
    return undefined;
  }

  /** Like get(), and a missing key is reported at the mapping that lacks it. */
  need<T>(obj: Raw, key: string, path: KeyPath, parse: Parse<T>): T | undefined {
    if (obj[key] === undefined) this.report(path, `missing required key "${key}"`);
    return this.get(obj, key, path, parse);
  }

  /** A non-empty list, each element with its own path. */
  list(
    obj: Raw,
    key: string,
    path: KeyPath,
    options: { required: boolean },
  ): { value: unknown; path: KeyPath }[] | undefined {
    const value = obj[key];
    if (value === undefined) {
      if (options.required) this.report(path, `missing required key "${key}"`);
      return undefined;
    }
    if (!Array.isArray(value)) this.report([...path, key], "must be a list");
    else if (value.length === 0) this.report([...path, key], "must not be empty");
    else return value.map((item, i) => ({ value: item, path: [...path, key, i] }));
    return undefined;
  }

  /** A string or a non-empty list of strings. */
  strings(
    obj: Raw,
    key: string,
    path: KeyPath,
    options: { required: boolean },
  ): { value: string; path: KeyPath }[] | undefined {
    const value = obj[key];
    if (typeof value === "string") return [{ value, path: [...path, key] }];
    if (value !== undefined && !Array.isArray(value)) {
      this.report([...path, key], "must be a string or a list of strings");
      return undefined;
    }
    const items = this.list(obj, key, path, options) ?? [];
    const strings = items.flatMap((item) => {
      if (typeof item.value === "string" && item.value !== "") {
        return [{ value: item.value, path: item.path }];
      }
      this.report(item.path, typeof item.value === "string" ? "must not be empty" : "must be a string");
      return [];
    });
    return items.length > 0 ? strings : undefined;
  }
}

/** The known name closest to a misspelt one, if it is close enough to be a plausible typo. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Optimal string alignment distance: Levenshtein plus swapped neighbours ("tsl" -> "tls" = 1). */
function editDistance(a: string, b: string): number {
  const width = b.length + 1;
  const d = new Array<number>((a.length + 1) * width).fill(0);
  const at = (i: number, j: number) => d[i * width + j]!;
  for (let i = 0; i <= a.length; i++) {
    for (let j = 0; j <= b.length; j++) {
      let best = i === 0 || j === 0 ? i + j : Math.min(
        at(i - 1, j) + 1,
        at(i, j - 1) + 1,
        at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      d[i * width + j] = best;
    }
  }
  return at(a.length, b.length);
}
