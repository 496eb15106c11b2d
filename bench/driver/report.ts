/**
 * Turns run records into statistics and the markdown report (pure: strings in, strings out).
 * Every figure is the median of the repetitions with [min–max]; ratios are median / nginx median, and
 * for the wsgate targets also median / their runtime's floor median (and wsgate-bin's / the earlier build's).
 */
import type { Figure } from "./cases.ts";

export interface RunRecord {
  rep: number;
  case: string;
  target: string;
  at: string;
  /** The load client's JSON result, null when the run failed. */
  raw: Record<string, unknown> | null;
  figures: Record<string, number>;
  error?: string;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  values: number[];
}

/** figure key -> target -> statistics */
export type Summary = Record<string, Record<string, Stat>>;

export interface Meta {
  date: string;
  command: string;
  machine: Record<string, string>;
  versions: Record<string, string>;
  options: Record<string, unknown>;
}

export const ANCHOR = "nginx";

/** What else a target's figures are divided by, beside nginx: the floor of the runtime it runs on (the
 * distance to it is wsgate's own cost) and, for wsgate-bin, the earlier commit's build (before/after). */
export const REFERENCES: Record<string, { target: string; label: string }[]> = {
  "wsgate-deno": [{ target: "floor-deno", label: "floor" }, { target: "floor-deno-steps", label: "steps" }],
  "wsgate-tracked": [{ target: "floor-deno", label: "floor" }],
  "wsgate-bin": [
    { target: "floor-bun", label: "floor" },
    { target: "floor-bun-steps", label: "steps" },
    { target: "wsgate-baseline", label: "before" },
  ],
  // The floors with wsgate's pure steps: what those steps cost on them.
  "floor-bun-steps": [{ target: "floor-bun", label: "floor" }],
  "floor-deno-steps": [{ target: "floor-deno", label: "floor" }],
  "wsgate-bin-auto": [{ target: "floor-bun", label: "floor" }],
  "wsgate-baseline": [{ target: "floor-bun", label: "floor" }],
  // The PROXY protocol variants against the same wsgate without it.
  "wsgate-bin-pp": [{ target: "wsgate-bin", label: "plain" }],
  "wsgate-deno-pp": [{ target: "wsgate-deno", label: "plain" }],
};

function median(sorted: number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarise(records: RunRecord[], figures: Figure[], targets: string[]): Summary {
  const out: Summary = {};
  for (const f of figures) {
    const row: Record<string, Stat> = {};
    for (const t of targets) {
      const values = records
        .filter((r) => r.target === t && f.key in r.figures)
        .map((r) => r.figures[f.key]!)
        .filter(Number.isFinite)
        .sort((a, b) => a - b);
      if (values.length > 0) {
        row[t] = { median: median(values), min: values[0]!, max: values.at(-1)!, values };
      }
    }
    out[f.key] = row;
  }
  return out;
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a === 0) return "0";
  return v.toPrecision(3);
}

function ratio(stat: Stat, reference: Stat | undefined): string | undefined {
  return reference && reference.median !== 0 ? `×${(stat.median / reference.median).toFixed(2)}` : undefined;
}

function cell(
  stat: Stat | undefined,
  row: Record<string, Stat>,
  o: { target: string; runs: number; ratios: boolean },
): string {
  if (!stat) return "–";
  const range = stat.values.length > 1 ? ` [${fmt(stat.min)}–${fmt(stat.max)}]` : "";
  // Runs that failed leave fewer values than repetitions: say so instead of hiding it.
  const n = stat.values.length < o.runs ? ` (n=${stat.values.length}/${o.runs})` : "";
  const toAnchor = o.target === ANCHOR || !o.ratios ? undefined : ratio(stat, row[ANCHOR]);
  const others = (o.ratios ? REFERENCES[o.target] ?? [] : []).flatMap((r) => {
    const x = ratio(stat, row[r.target]);
    return x ? [` · ${r.label} ${x}`] : [];
  });
  return `${fmt(stat.median)}${range}${n}${toAnchor ? ` **${toAnchor}**` : ""}${others.join("")}`;
}

export function markdownTable(
  summary: Summary,
  figures: Figure[],
  o: { targets: string[]; runs: number },
): string {
  const targets = o.targets;
  const lines = [
    `| figure (better) | ${targets.join(" | ")} |`,
    `|---|${targets.map(() => "---").join("|")}|`,
  ];
  for (const f of figures) {
    const row = summary[f.key] ?? {};
    const cells = targets.map((t) =>
      cell(row[t], row, { target: t, runs: o.runs, ratios: f.ratios ?? true })
    );
    lines.push(`| ${f.label} (${f.better === "higher" ? "↑" : "↓"}) | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

export interface BaselineCheck {
  figure: string;
  ok: boolean;
  text: string;
}

/** Did `direct` beat every proxy (median against median) on each throughput/latency figure? */
export function baselineChecks(summary: Summary, figures: Figure[], targets: string[]): BaselineCheck[] {
  const checks: BaselineCheck[] = [];
  for (const f of figures.filter((f) => f.baseline)) {
    const row = summary[f.key] ?? {};
    const direct = row["direct"];
    const proxies = targets.filter((t) => t !== "direct" && row[t]);
    if (!direct || proxies.length === 0) continue;
    const sign = f.better === "higher" ? 1 : -1;
    const best = proxies.reduce((a, b) => (sign * row[a]!.median >= sign * row[b]!.median ? a : b));
    const margin = f.better === "higher"
      ? direct.median / row[best]!.median
      : row[best]!.median / direct.median;
    const ok = margin > 1;
    checks.push({
      figure: f.label,
      ok,
      text:
        `${ok ? "yes" : "**NO**"}: direct ${fmt(direct.median)} vs best proxy ${best} ${
          fmt(row[best]!.median)
        } ` +
        `(direct ${margin.toFixed(2)}× better)`,
    });
  }
  return checks;
}

/** One line per run that reported failures or broke, so odd numbers can be traced. */
export function problems(records: RunRecord[]): string[] {
  const out: string[] = [];
  for (const r of records) {
    const where = `run ${r.rep} ${r.case} ${r.target}`;
    if (r.error) out.push(`${where}: ${r.error}`);
    const errors = r.raw?.["errors"];
    if (Array.isArray(errors) && errors.length > 0) out.push(`${where}: ${errors.join("; ")}`);
  }
  return out;
}

export function renderMarkdown(
  meta: Meta,
  parts: { table: string; checks: BaselineCheck[]; problems: string[]; notes: string[] },
): string {
  const kv = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `${k}: ${v}`).join("; ");
  const allOk = parts.checks.every((c) => c.ok);
  return [
    `# wsgate benchmark — ${meta.date}`,
    "",
    `- command: \`${meta.command}\``,
    `- machine: ${kv(meta.machine)}`,
    `- versions: ${kv(meta.versions)}`,
    "",
    "Each cell: median [min–max] over the runs, then **×ratio** to nginx's median; for the wsgate targets",
    "also `floor ×ratio` to the floor of their runtime (wsgate-bin, -bin-auto, -baseline: floor-bun;",
    "wsgate-deno, -tracked: floor-deno), `steps ×ratio` to the floor running wsgate's pure handshake steps",
    "(wsgate-bin: floor-bun-steps, wsgate-deno: floor-deno-steps, which carry `floor ×ratio` themselves)",
    "and, for wsgate-bin, `before ×ratio` to wsgate-baseline; the PROXY protocol variants (-pp) carry",
    "`plain ×ratio` to the same wsgate without it.",
    "↑ higher is better, ↓ lower is better. `–` = not applicable (no proxy for `direct`).",
    "",
    parts.table,
    "",
    `**Baseline check — direct faster than every proxy: ${allOk ? "yes" : "NO"}**`,
    ...parts.checks.map((c) => `- ${c.figure}: ${c.text}`),
    "",
    ...(parts.problems.length > 0
      ? ["Failures and errors:", ...parts.problems.map((p) => `- ${p}`), ""]
      : []),
    "Notes:",
    ...parts.notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
}
