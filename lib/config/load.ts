/**
 * Config file -> `Config`, with every problem as "file:line:col: key.path: message". The only
 * I/O is through the injected `readTextFile`, so tests need no files and no runtime.
 */
import { dirname } from "node:path";
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { Config } from "./schema.ts";
import { type ConfigIssue, formatPath, validateConfig } from "./validate.ts";
import { Invalid } from "./reader.ts";

export interface LoadResult {
  config?: Config;
  /** Each "file:line:col: key.path: message" (or "key.path: message" for loadConfigObject). */
  errors: string[];
}

type ReadTextFile = (path: string) => Promise<string>;

/** YAML beyond this many alias expansions is an attack ("billion laughs"), not a config. */
const MAX_ALIAS_COUNT = 100;

/** Keys the running runtime cannot honour (key name -> why), refused where they are written. */
export type Unsupported = Readonly<Record<string, string>>;

export async function loadConfigFile(
  path: string,
  readTextFile: ReadTextFile,
  options: { unsupported?: Unsupported } = {},
): Promise<LoadResult> {
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (error) {
    return { errors: [`${path}: cannot read: ${reason(error)}`] };
  }
  const lineCounter = new LineCounter();
  // logLevel "error": yaml would otherwise print its own warnings to the console.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, logLevel: "error" });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${path}:${Math.max(line, 1)}:${col}`;
  };
  const syntax = [
    ...doc.errors.map((error) => ({
      offset: error.pos[0],
      message: error.code === "MULTIPLE_DOCS"
        ? `a config holds one YAML document; remove this "---" and what follows`
        : firstLine(error.message),
    })),
    ...unresolvedAliases(doc),
  ];
  if (syntax.length > 0) {
    syntax.sort((a, b) => a.offset - b.offset);
    return { errors: syntax.map(({ offset, message }) => `${at(offset)}: YAML syntax error: ${message}`) };
  }
  if (doc.contents === null) return { errors: [`${path}:1:1: config is empty`] };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    return { errors: [`${at(0)}: YAML error: ${reason(error)}`] };
  }
  const result = await check(raw, { source: path, baseDir: dirname(path), readTextFile, ...options });
  const located = result.issues.map((issue) => ({ issue, offset: locate(doc, issue) }));
  located.sort((a, b) => a.offset - b.offset);
  const errors = located.map(({ issue, offset }) => `${at(offset)}: ${describe(issue)}`);
  return result.config ? { config: result.config, errors } : { errors };
}

/** For flag/default configs: validates `raw` and reads the PEM files; errors "key.path: message". */
export async function loadConfigObject(
  raw: unknown,
  options: { source: string; baseDir: string; readTextFile: ReadTextFile; unsupported?: Unsupported },
): Promise<LoadResult> {
  const result = await check(raw, options);
  const errors = result.issues.map(describe);
  return result.config ? { config: result.config, errors } : { errors };
}

/** Validation, then the files it names (PEM, token): unreadable files are reported with the rest. */
async function check(
  raw: unknown,
  options: { source: string; baseDir: string; readTextFile: ReadTextFile; unsupported?: Unsupported },
): Promise<{ config?: Config; issues: ConfigIssue[] }> {
  const { config, issues, files } = validateConfig(raw, options);
  const fileIssues = await Promise.all(
    files.map(async ({ path, file, read, fill }): Promise<ConfigIssue[]> => {
      let text: string;
      try {
        text = await options.readTextFile(file);
      } catch (error) {
        return [{ path, message: `cannot read ${JSON.stringify(file)}: ${reason(error)}` }];
      }
      const value = read(text);
      if (value instanceof Invalid) return [{ path, message: `${JSON.stringify(file)} ${value.message}` }];
      fill(value);
      return [];
    }),
  );
  const all = [...issues, ...fileIssues.flat()];
  return config && all.length === 0 ? { config, issues: all } : { issues: all };
}

function describe(issue: ConfigIssue): string {
  return issue.path.length === 0 ? issue.message : `${formatPath(issue.path)}: ${issue.message}`;
}

/**
 * The source offset an issue points at: its value, its key (unknown keys, or a key with no
 * value), or the nearest enclosing mapping when the path does not exist (a missing key).
 */
function locate(doc: Document, issue: ConfigIssue): number {
  let node: unknown = doc.contents;
  let offset = startOf(node) ?? 0;
  for (const [index, part] of issue.path.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(part));
      if (pair === undefined) break;
      const keyWanted = issue.atKey === true && index === issue.path.length - 1;
      next = keyWanted || isEmpty(pair.value) ? pair.key : pair.value;
    } else if (isSeq(node) && typeof part === "number") {
      next = node.items[part];
    } else break;
    node = next;
    offset = startOf(next) ?? offset;
  }
  return offset;
}

function startOf(node: unknown): number | undefined {
  return isScalar(node) || isMap(node) || isSeq(node) || isAlias(node) ? node.range?.[0] : undefined;
}

/** `key:` with nothing after it: its zero-width range would point past the colon, so point at the key. */
function isEmpty(node: unknown): boolean {
  return isScalar(node) && node.value === null && node.range?.[0] === node.range?.[1];
}

/** `hosts: [*.example.com]` parses as an alias; say so instead of yaml's ReferenceError from toJS(). */
function unresolvedAliases(doc: Document): { offset: number; message: string }[] {
  const found: { offset: number; message: string }[] = [];
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) !== undefined) return;
      const message =
        `unknown alias "*${node.source}" (quote values that start with "*", like "*.example.com")`;
      found.push({ offset: node.range?.[0] ?? 0, message });
    },
  });
  return found;
}

/** An error's message without the runtime's " readfile '/path'"-style suffix (the path is already shown). */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return firstLine(message).replace(/[,:] [a-z]+ '[^']*'$/, "");
}

function firstLine(text: string): string {
  return text.split("\n", 1)[0] ?? text;
}
