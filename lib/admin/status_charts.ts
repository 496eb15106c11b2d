/**
 * The status page's charts: the browser-side script that draws ./history.json (see
 * observe/history.ts) as inline SVG line charts, one per figure, with a legend that follows the
 * pointer. Plain JavaScript in a string, spliced into the page's one <script> (status_page.ts),
 * which provides el(), formatBytes() and formatCount(). The <svg class="plot"> elements are in
 * the page's markup: their namespaceURI is where new SVG nodes come from, so the page needs no
 * namespace URL written out.
 */
export const CHARTS_SCRIPT = `
/** Series colours: CSS variables, so dark mode can adjust them. */
const PALETTE = ["var(--c1)", "var(--c2)", "var(--c3)", "var(--c4)", "var(--c5)", "var(--c6)"];
const REASONS = { 400: "bad request", 401: "no token", 403: "forbidden", 404: "no route", 405: "method",
  408: "timeout", 413: "too large", 414: "URI too long", 421: "misdirected", 426: "upgrade required",
  429: "too many", 431: "head too large", 499: "client left", 500: "internal", 502: "bad gateway",
  503: "unavailable", 504: "upstream timeout" };
const rejectLabel = (status) => status + (REASONS[status] ? " " + REASONS[status] : "");

const perSecond = (n) => formatCount(n) + "/s";
const bytesPerSecond = (n) => formatBytes(n) + "/s";
const milliseconds = (n) => formatCount(n) + " ms";

/** What each chart shows; series() lists the lines for the samples at hand. */
const CHARTS = [
  { id: "tunnels", format: formatCount, series: () => [
    { label: "open", color: PALETTE[0], value: (s) => s.tunnels }] },
  { id: "handshakes", format: perSecond, series: () => [
    { label: "answered", color: PALETTE[0], value: (s) => s.handshakes },
    { label: "tunnels opened (101)", color: PALETTE[1], value: (s) => s.opened }] },
  { id: "bytes", format: bytesPerSecond, binary: true, series: () => [
    { label: "up (client to upstream)", color: PALETTE[0], value: (s) => s.bytesUp },
    { label: "down", color: PALETTE[2], value: (s) => s.bytesDown }] },
  { id: "rejects", format: perSecond, series: (samples) => {
    const statuses = [...new Set(samples.flatMap((s) => Object.keys(s.rejects)))].sort();
    if (statuses.length === 0) return [{ label: "none", color: PALETTE[1], value: () => 0 }];
    return statuses.map((status, i) => ({ label: rejectLabel(status), color: PALETTE[(i + 3) % PALETTE.length],
      value: (s) => s.rejects[status] || 0 }));
  } },
  { id: "failures", format: perSecond, series: () => [
    { label: "failed attempts", color: PALETTE[4], value: (s) => s.upstreamFailures }] },
  // null in an interval without new tunnels: the line breaks there.
  { id: "latency", format: milliseconds, series: () => [
    { label: "p50", color: PALETTE[5], value: (s) => s.p50Ms },
    { label: "p99", color: PALETTE[3], value: (s) => s.p99Ms }] },
];

/** A round top for the y axis: 1, 2 or 5 times a power of ten (of 1024 for bytes). */
function niceMax(value, binary) {
  if (!(value > 0)) return 1;
  const base = binary ? 1024 : 10;
  const unit = binary ? Math.pow(1024, Math.floor(Math.log(value) / Math.log(1024))) : 1;
  const v = value / unit;
  const power = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * power * 1.0001) return m * power * unit;
  return base * unit;
}

function svgNode(plot, tag, attrs) {
  const node = document.createElementNS(plot.namespaceURI, tag);
  for (const key of Object.keys(attrs)) node.setAttribute(key, String(attrs[key]));
  return node;
}

const PLOT_HEIGHT = 128;
/** Time axis steps, in ms: the first that gives at most four labels besides "now". */
const TICKS = [1, 2, 5, 10, 15, 30, 60, 120, 300].map((s) => s * 1000);
const MARGIN = { left: 58, right: 8, top: 8, bottom: 18 };

/** The latest history, kept to redraw on resize and for the pointer's readout. */
let lastHistory;

function drawCharts(history) {
  lastHistory = history;
  const interval = history.intervalSeconds;
  $("charts-meta").textContent = "one point every " + (interval >= 1 ? interval + " s" : interval * 1000 + " ms") +
    (history.samples.length < 2 ? " \\u00b7 collecting..." : "");
  for (const chart of CHARTS) drawChart(chart, history);
}

function drawChart(chart, history) {
  const plot = $("plot-" + chart.id);
  const samples = history.samples;
  const series = chart.series(samples);
  const width = Math.max(plot.clientWidth || 0, 200);
  const innerW = width - MARGIN.left - MARGIN.right;
  const innerH = PLOT_HEIGHT - MARGIN.top - MARGIN.bottom;
  // Up to the whole window; less while the history is younger, so a fresh start is not a sliver.
  const end = samples.length ? samples[samples.length - 1].t : Date.now();
  const intervalMs = history.intervalSeconds * 1000;
  const span = Math.min(history.windowSeconds * 1000,
    Math.max(samples.length ? end - samples[0].t : 0, 12 * intervalMs));
  const start = end - span;
  let top = 0;
  for (const line of series) for (const s of samples) top = Math.max(top, line.value(s) || 0);
  top = niceMax(top, chart.binary);
  const x = (t) => MARGIN.left + (t - start) / (end - start) * innerW;
  const y = (v) => MARGIN.top + innerH - v / top * innerH;
  plot.setAttribute("viewBox", "0 0 " + width + " " + PLOT_HEIGHT);
  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const at = y(top * fraction);
    nodes.push(svgNode(plot, "line", { class: "grid", x1: MARGIN.left, x2: width - MARGIN.right, y1: at, y2: at }));
    const label = svgNode(plot, "text", { x: MARGIN.left - 6, y: at + 3, "text-anchor": "end" });
    label.textContent = chart.format(top * fraction);
    nodes.push(label);
  }
  const step = TICKS.find((t) => span / t <= 4) || TICKS[TICKS.length - 1];
  // No label at the very left edge: it would run into the y axis's.
  for (let ago = 0; ago === 0 || ago < span - step / 4; ago += step) {
    const label = svgNode(plot, "text", { x: x(end - ago), y: PLOT_HEIGHT - 4,
      "text-anchor": ago === 0 ? "end" : "middle" });
    label.textContent = ago === 0 ? "now" : "-" + (ago >= 60000 ? ago / 60000 + " min" : ago / 1000 + " s");
    nodes.push(label);
  }
  const gap = intervalMs * 1.5;
  for (const line of series) {
    // Runs of points: a missing sample (a restart, a stalled process) or value breaks the line
    // instead of bridging the gap.
    const runs = [];
    let previous;
    for (const s of samples) {
      const value = line.value(s);
      if (value === null) continue;
      if (previous === undefined || s.t - previous.t > gap) runs.push([]);
      runs[runs.length - 1].push(x(s.t).toFixed(1) + " " + y(value).toFixed(1));
      previous = s;
    }
    const d = runs.map((run) => "M" + run.join("L")).join("");
    // One series: shaded down to zero under each run.
    const floor = " " + y(0).toFixed(1);
    const area = series.length > 1 ? "" : runs.map((run) =>
      "M" + run[0].split(" ")[0] + floor + "L" + run.join("L") + "L" + run[run.length - 1].split(" ")[0] + floor + "Z"
    ).join("");
    if (area) nodes.push(svgNode(plot, "path", { class: "area", d: area, style: "fill:" + line.color }));
    nodes.push(svgNode(plot, "path", { class: "line", "data-series": line.label, d: d || "M0 0",
      style: "stroke:" + line.color }));
    // A point alone (one interval with data between two without) would not show as a line.
    for (const run of runs.filter((r) => r.length === 1)) {
      const [cx, cy] = run[0].split(" ");
      nodes.push(svgNode(plot, "circle", { class: "dot", cx, cy, r: 2.5, style: "fill:" + line.color }));
    }
  }
  const cursor = svgNode(plot, "line", { class: "cursor", x1: 0, x2: 0, y1: MARGIN.top, y2: MARGIN.top + innerH,
    visibility: "hidden" });
  nodes.push(cursor);
  plot.replaceChildren(...nodes);
  const legend = (sample) => {
    const when = sample ? new Date(sample.t).toLocaleTimeString() : "";
    $("legend-" + chart.id).replaceChildren(...series.map((line) => {
      const swatch = el("span", "swatch");
      swatch.style.background = line.color;
      const value = sample ? line.value(sample) : null;
      return el("span", "", swatch, line.label + " ", el("b", "", value === null ? "-" : chart.format(value)));
    }));
    $("now-" + chart.id).textContent = when;
  };
  legend(samples[samples.length - 1]);
  // The pointer picks the nearest sample: its time and values replace the latest in the legend.
  plot.onmousemove = (event) => {
    if (samples.length === 0) return;
    const box = plot.getBoundingClientRect();
    const t = start + ((event.clientX - box.left) / box.width * width - MARGIN.left) / innerW * (end - start);
    let nearest = samples[0];
    for (const s of samples) if (Math.abs(s.t - t) < Math.abs(nearest.t - t)) nearest = s;
    cursor.setAttribute("x1", x(nearest.t));
    cursor.setAttribute("x2", x(nearest.t));
    cursor.setAttribute("visibility", "visible");
    legend(nearest);
  };
  plot.onmouseleave = () => {
    cursor.setAttribute("visibility", "hidden");
    legend(samples[samples.length - 1]);
  };
}

addEventListener("resize", () => { if (lastHistory) drawCharts(lastHistory); });
`;
