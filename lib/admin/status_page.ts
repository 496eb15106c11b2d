/**
 * STATUS PAGE: one self-contained HTML document (inline CSS, JS and SVG, no external assets, so
 * it works offline and behind strict CSPs of other sites). Every 2 s it polls ./status.json (see
 * status.ts), ./history.json (the charts, status_charts.ts) and ./tunnels.json (the tunnel table,
 * status_tunnels.ts); it POSTs ./upstreams/{group}/servers/{address}/drain|undrain and
 * ./tunnels/{id}/close, all relative to the page's own URL, names through encodeURIComponent.
 * With admin.token_file set, the page is served with a 401 and no data: it asks for the token,
 * keeps it in this tab's sessionStorage only, and sends it as "Authorization: Bearer" with its
 * own requests.
 */
import { CHARTS_SCRIPT } from "./status_charts.ts";
import { TUNNELS_SCRIPT } from "./status_tunnels.ts";

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsgate status</title>
<style>
/* The badge and banner rules set display; keep the hidden attribute stronger than them. */
[hidden] { display: none !important; }
:root { --bg: #f6f7f9; --card: #fff; --fg: #1d2330; --muted: #6b7385; --line: #e2e5eb;
  --ok: #1f9d55; --bad: #d64545; --warn: #c77c02; --accent: #2f6fde;
  --c1: #2f6fde; --c2: #1f9d55; --c3: #8e5bd6; --c4: #c77c02; --c5: #d64545; --c6: #0f9aa8; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #14171c; --card: #1d2128; --fg: #e4e7ec; --muted: #98a0ae; --line: #2c313a;
    --c1: #5b8ff0; --c2: #3cbf76; --c3: #a884ea; --c4: #e0a030; --c5: #ee6b6b; --c6: #3cc3cf; }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 12px; margin-bottom: 16px; }
h1 { margin: 0; font-size: 22px; }
h2 { font-size: 15px; margin: 24px 0 8px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: var(--muted); }
.banner { background: var(--bad); color: #fff; padding: 10px 14px; border-radius: 6px; margin-bottom: 16px; }
.stale { opacity: .5; }
.totals { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.num { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; }
.label { color: var(--muted); font-size: 12px; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; overflow: hidden; }
th, td { text-align: left; padding: 7px 12px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
tr:last-child td { border-bottom: 0; }
td.n { font-variant-numeric: tabular-nums; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; margin-right: 4px;
  border: 1px solid currentColor; }
.badge.warn { color: var(--warn); }
.badge.bad { color: var(--bad); }
.badge.info { color: var(--accent); }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px; }
.dot.ok { background: var(--ok); }
.dot.bad { background: var(--bad); }
button { font: inherit; font-size: 12px; padding: 3px 10px; border-radius: 5px; cursor: pointer;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
button:hover { border-color: var(--accent); }
button:disabled { opacity: .5; cursor: wait; }
footer { margin-top: 24px; color: var(--muted); font-size: 12px; }
#login { display: flex; gap: 8px; align-items: center; margin-bottom: 16px; }
input { font: inherit; padding: 3px 8px; border-radius: 5px; border: 1px solid var(--line); }
h2 .count, h2 .meta { text-transform: none; letter-spacing: 0; font-weight: 400; margin-left: 6px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 12px; }
.chart { padding: 10px 12px 8px; min-width: 0; }
.chart-head { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; }
.chart-title { font-weight: 600; }
.chart-now { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
svg.plot { display: block; width: 100%; height: 128px; margin-top: 4px; }
svg.plot .grid { stroke: var(--line); stroke-width: 1; }
svg.plot text { fill: var(--muted); font-size: 10px; font-family: inherit; font-variant-numeric: tabular-nums; }
svg.plot .line { fill: none; stroke-width: 1.8; stroke-linejoin: round; stroke-linecap: round; }
svg.plot .area { opacity: .14; stroke: none; }
svg.plot .cursor { stroke: var(--muted); stroke-dasharray: 3 3; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 12px; color: var(--muted); min-height: 18px; }
.legend .swatch { display: inline-block; width: 12px; height: 3px; border-radius: 2px; margin-right: 5px;
  vertical-align: middle; }
.legend b { color: var(--fg); font-weight: 500; font-variant-numeric: tabular-nums; }
.toolbar { display: flex; align-items: center; gap: 0; margin-bottom: 8px; }
.toolbar .meta { margin-right: 8px; font-size: 12px; }
button.seg { border-radius: 0; margin-left: -1px; }
button.seg:first-of-type { border-radius: 5px 0 0 5px; }
button.seg:last-of-type { border-radius: 0 5px 5px 0; }
button.seg.on, button.th-sort.on { color: var(--accent); border-color: var(--accent); position: relative; }
button.th-sort { border: 0; background: none; padding: 0; color: inherit; font-size: 12px; font-weight: 500; }
button.th-sort.on { border: 0; }
button.danger:hover { border-color: var(--bad); color: var(--bad); }
#tunnels td, #tunnels th { white-space: nowrap; }
/* Wide tables scroll sideways on a narrow screen instead of widening the page. */
#tunnels, #routes, #upstreams, #listeners { overflow-x: auto; }
.unrouted { margin: 8px 0 0; color: var(--muted); font-size: 13px; }
</style>
</head>
<body>
<header>
  <h1>wsgate <span id="version"></span></h1>
  <span class="meta" id="meta">loading...</span>
  <span class="badge warn" id="draining" hidden>draining</span>
</header>
<div class="banner" id="error" role="alert" hidden></div>
<form id="login" hidden>
  <label for="token">Admin token (admin.token_file)</label>
  <input id="token" type="password" autocomplete="off" required>
  <button type="submit">Use</button>
</form>
<main id="main">
  <section class="totals">
    <div class="card"><div class="num" id="active-tunnels">-</div><div class="label">active tunnels</div></div>
    <div class="card"><div class="num" id="accepted">-</div><div class="label">accepted connections</div></div>
    <div class="card"><div class="num" id="handshakes">-</div><div class="label">handshakes</div></div>
    <div class="card"><div class="num" id="bytes-up">-</div><div class="label">bytes up (client to upstream)</div></div>
    <div class="card"><div class="num" id="bytes-down">-</div><div class="label">bytes down</div></div>
    <div class="card"><div class="num" id="reloads">-</div><div class="label">reloads</div></div>
  </section>
  <h2>Last 15 minutes <span class="meta" id="charts-meta"></span></h2>
  <section class="charts">
    ${chartCard("tunnels", "Open tunnels")}
    ${chartCard("handshakes", "Handshakes / s")}
    ${chartCard("bytes", "Traffic / s")}
    ${chartCard("rejects", "Rejects / s by status")}
    ${chartCard("failures", "Upstream failures / s")}
    ${chartCard("latency", "Tunnel handshake latency")}
  </section>
  <section id="tunnel-section">
    <h2>Open tunnels <span class="count" id="tunnel-count"></span></h2>
    <div class="toolbar"><span class="meta">Sort</span><button type="button" class="seg on" id="sort-oldest"
      >Oldest first</button><button type="button" class="seg" id="sort-busiest">Busiest first</button></div>
    <div id="tunnels"></div>
  </section>
  <h2>Routes</h2><div id="routes"></div>
  <p class="unrouted" id="unrouted" hidden></p>
  <h2>Upstreams</h2><div id="upstreams"></div>
  <h2>Listeners</h2><div id="listeners"></div>
  <section id="certificates-section" hidden><h2>Certificates</h2><div id="certificates"></div></section>
</main>
<footer>Refreshes every 2 s. Last update: <span id="updated">never</span></footer>
<script>
"use strict";
const REFRESH_MS = 2000;
const TOKEN_KEY = "wsgate-admin-token";
const $ = (id) => document.getElementById(id);
/** True from a 401 until a token is entered: polling waits, as each try would only be refused. */
let askingForToken = false;

/** A request to the admin API, with the token when one was given; a 401 asks for it again. */
async function api(url, init = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const response = await fetch(url, { ...init, cache: "no-store", headers });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askingForToken = true;
    $("login").hidden = false;
    const error = new Error(token ? "The admin token was not accepted." : "This page needs the admin token.");
    error.needsToken = true;
    throw error;
  }
  $("login").hidden = true;
  return response;
}

$("login").onsubmit = (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  askingForToken = false;
  refresh();
};

/** Builds an element; children are nodes or text (never parsed as HTML). */
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) node.append(child);
  return node;
}

function table(headers, rows) {
  if (rows.length === 0) return el("p", "meta", "none");
  const head = el("tr", "", ...headers.map((h) => el("th", "", h)));
  return el("table", "", el("thead", "", head), el("tbody", "", ...rows.map((cells) =>
    el("tr", "", ...cells.map((c) => typeof c === "number" ? el("td", "n", String(c)) : el("td", "", c))))));
}

function badge(text, kind) {
  return el("span", "badge " + kind, text);
}

function formatBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + units[i];
}

/** Counts and rates: whole numbers as they are, fractions to two places, big ones shortened. */
function formatCount(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (Number.isInteger(n)) return String(n);
  return String(Math.round(n * 100) / 100);
}

/** A handshake latency summary (status.json): "p50 / p90 / p99 ms", or "-" without tunnels. */
function formatLatency(h) {
  if (h.count === 0) return "-";
  return h.p50Ms + " / " + h.p90Ms + " / " + h.p99Ms + " ms";
}

/** Counts by key (status, reason) as badges, "-" when there are none. */
function countBadges(counts, kindOf) {
  const keys = Object.keys(counts).sort();
  if (keys.length === 0) return "-";
  return el("span", "", ...keys.map((key) => badge(key + " \u00d7" + formatCount(counts[key]), kindOf(key))));
}

const statusKind = (status) => Number(status) >= 500 ? "bad" : "warn";

function formatUptime(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
  const m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  if (d > 0) return d + "d " + h + "h " + m + "m";
  if (h > 0) return h + "h " + m + "m";
  return m > 0 ? m + "m " + s + "s" : s + "s";
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  $("main").classList.add("stale");
}

function clearError() {
  $("error").hidden = true;
  $("main").classList.remove("stale");
}

function serverRow(group, server) {
  const health = el("span", "", el("span", "dot " + (server.healthy ? "ok" : "bad")),
    server.healthy ? "healthy" : "unhealthy");
  const badges = el("span", "");
  if (server.drained) badges.append(badge("drained", "warn"));
  if (server.down) badges.append(badge("down", "bad"));
  if (server.backup) badges.append(badge("backup", "info"));
  const button = el("button", "", server.drained ? "Undrain" : "Drain");
  button.type = "button";
  button.title = server.drained ? "Accept new tunnels again" : "No new tunnels; open ones continue";
  button.onclick = () => setDrained(button, group, server.address, !server.drained);
  return [el("code", "", server.address), health, server.weight, server.active,
    countBadges(server.stats.failures, () => "bad"), formatLatency(server.stats.handshake), badges, button];
}

function render(s) {
  $("version").textContent = s.version;
  $("meta").textContent = s.runtime + " \\u00b7 up " + formatUptime(s.uptimeSeconds) + " \\u00b7 " +
    s.workers + (s.workers === 1 ? " worker" : " workers") + " \\u00b7 config: " + s.configSource;
  $("draining").hidden = !s.draining;
  const t = s.totals;
  $("active-tunnels").textContent = String(t.activeTunnels);
  $("accepted").textContent = String(t.acceptedConnections);
  $("handshakes").textContent = String(t.handshakes);
  $("bytes-up").textContent = formatBytes(t.bytesUp);
  $("bytes-down").textContent = formatBytes(t.bytesDown);
  $("reloads").textContent = t.reloads + (t.reloadsFailed > 0 ? " (" + t.reloadsFailed + " failed)" : "");
  $("listeners").replaceChildren(table(["address", "transport"],
    s.listeners.map((l) => [el("code", "", l.addr), l.transport])));
  $("certificates-section").hidden = s.certificates.length === 0;
  $("certificates").replaceChildren(table(["domain", "expires", "in"],
    s.certificates.map((c) => [el("code", "", c.domain), c.expires,
      (c.expiresInSeconds / 86400).toFixed(1) + " days"])));
  $("routes").replaceChildren(table(["hosts", "path", "upstream", "websocket only", "open", "opened",
    "rejects", "upstream failures", "handshake p50 / p90 / p99"],
    s.routes.map((r) => [r.hosts, el("code", "", r.path), r.upstream, r.websocketOnly ? "yes" : "no",
      r.stats.open, r.stats.opened, countBadges(r.stats.rejects, statusKind), r.stats.upstreamFailures,
      formatLatency(r.stats.handshake)])));
  const unrouted = Object.keys(s.unrouted.rejects).length > 0;
  $("unrouted").hidden = !unrouted;
  if (unrouted) {
    $("unrouted").replaceChildren("Refused before a route matched: ", countBadges(s.unrouted.rejects, statusKind));
  }
  $("upstreams").replaceChildren(...s.upstreams.map((u) => el("div", "",
    el("h3", "", u.name + " ", el("span", "meta", u.balance)),
    table(["server", "health", "weight", "active tunnels", "failed attempts", "handshake p50 / p90 / p99", "", ""],
      u.servers.map((sv) => serverRow(u.name, sv))))));
  $("updated").textContent = new Date().toLocaleTimeString();
}

async function getJson(url) {
  const response = await api(url);
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.json();
}

async function refresh() {
  try {
    const [status, history, tunnels] = await Promise.all([
      getJson("./status.json"), getJson("./history.json"), getJson(tunnelListPath())]);
    render(status);
    drawCharts(history);
    renderTunnels(tunnels);
    clearError();
  } catch (err) {
    showError(err.needsToken ? err.message
      : "Cannot reach the gateway (" + err.message + "); showing the last known state, retrying...");
  }
}

async function setDrained(button, group, address, drain) {
  button.disabled = true;
  const url = "./upstreams/" + encodeURIComponent(group) + "/servers/" + encodeURIComponent(address) +
    (drain ? "/drain" : "/undrain");
  try {
    const response = await api(url, { method: "POST" });
    if (!response.ok) throw new Error("HTTP " + response.status + " " + (await response.text()));
    await refresh();
  } catch (err) {
    showError((drain ? "Drain" : "Undrain") + " of " + address + " failed: " + err.message);
  } finally {
    button.disabled = false;
  }
}

${CHARTS_SCRIPT}
${TUNNELS_SCRIPT}
// setTimeout after each answer, not setInterval: a slow gateway never gets overlapping polls.
function poll() {
  (askingForToken ? Promise.resolve() : refresh()).finally(() => setTimeout(poll, REFRESH_MS));
}
poll();
</script>
</body>
</html>
`;

/** One chart's card; status_charts.ts draws into its <svg class="plot">. */
function chartCard(id: string, title: string): string {
  return `<div class="card chart" id="chart-${id}">
      <div class="chart-head"><span class="chart-title">${title}</span><span class="chart-now" id="now-${id}"></span></div>
      <svg class="plot" id="plot-${id}" role="img" aria-label="${title}, last 15 minutes"></svg>
      <div class="legend" id="legend-${id}"></div>
    </div>`;
}

/** The live status page served by the admin listener. */
export function statusPage(): string {
  return PAGE;
}
