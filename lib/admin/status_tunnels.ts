/**
 * The status page's table of open tunnels: the browser-side script that shows ./tunnels.json
 * (see tunnels.ts) and POSTs ./tunnels/{id}/close from each row's Close button. The gateway
 * sorts and cuts the list (oldest or busiest first, TUNNEL_ROWS rows), so a gateway holding
 * 100,000 idle tunnels sends the page a hundred. Spliced into the page's one <script>
 * (status_page.ts), which provides $(), el(), api(), refresh() and the formatters.
 */
export const TUNNELS_SCRIPT = `
const TUNNEL_ROWS = 100;
/** "oldest" or "busiest": chosen on the page, applied by the gateway. */
let tunnelSort = "oldest";

function tunnelListPath() {
  return "./tunnels.json?sort=" + tunnelSort + "&limit=" + TUNNEL_ROWS;
}

function sortBy(sort) {
  tunnelSort = sort;
  refresh();
}

/** A header cell that sorts the table; the active one shows an arrow. */
function sortHeader(label, sort) {
  const button = el("button", "th-sort" + (tunnelSort === sort ? " on" : ""), label + (tunnelSort === sort ? " \\u25be" : ""));
  button.type = "button";
  button.title = sort === "oldest" ? "Oldest first" : "Busiest first (bytes both ways)";
  button.onclick = () => sortBy(sort);
  return el("th", "", button);
}

function renderTunnels(list) {
  const shown = list.tunnels.length;
  $("tunnel-count").textContent = list.total === 0 ? "" : list.total > shown
    ? list.total + " (the " + tunnelSort + " " + shown + " shown)" : String(list.total);
  $("sort-oldest").className = "seg" + (tunnelSort === "oldest" ? " on" : "");
  $("sort-busiest").className = "seg" + (tunnelSort === "busiest" ? " on" : "");
  if (shown === 0) {
    $("tunnels").replaceChildren(el("p", "meta", "No open tunnels."));
    return;
  }
  const now = Date.parse(list.now);
  const head = el("tr", "", el("th", "", "id"), el("th", "", "client"), el("th", "", "route"),
    el("th", "", "upstream server"), sortHeader("open for", "oldest"), sortHeader("bytes up", "busiest"),
    el("th", "", "bytes down"), el("th", "", "messages up / down"), el("th", "", ""));
  const rows = list.tunnels.map((t) => {
    const messages = t.messages_up === undefined
      ? el("span", "meta", "raw")
      : el("span", "", formatCount(t.messages_up) + " / " + formatCount(t.messages_down));
    if (t.messages_up === undefined) messages.title = "A raw byte pipe: the route does not track frames.";
    const row = el("tr", "",
      el("td", "", el("code", "", t.id)),
      el("td", "", el("code", "", t.client)),
      el("td", "", el("code", "", t.route)),
      el("td", "", t.upstream + " ", el("code", "", t.server)),
      el("td", "n", formatUptime(Math.max(0, Math.floor((now - Date.parse(t.started)) / 1000)))),
      el("td", "n", formatBytes(t.bytes_up)),
      el("td", "n", formatBytes(t.bytes_down)),
      el("td", "n", messages),
      el("td", "", closeButton(t)));
    row.setAttribute("data-id", t.id);
    return row;
  });
  $("tunnels").replaceChildren(el("table", "", el("thead", "", head), el("tbody", "", ...rows)));
}

function closeButton(tunnel) {
  const button = el("button", "danger", "Close");
  button.type = "button";
  button.title = "End this tunnel now: Close 1008 on routes that track frames, else the TCP connections close";
  button.onclick = () => closeTunnel(button, tunnel.id);
  return button;
}

async function closeTunnel(button, id) {
  button.disabled = true;
  button.textContent = "Closing...";
  try {
    const response = await api("./tunnels/" + encodeURIComponent(id) + "/close", { method: "POST" });
    // 404: it ended on its own meanwhile; the refresh shows that.
    if (!response.ok && response.status !== 404) throw new Error("HTTP " + response.status + " " + (await response.text()));
    await refresh();
  } catch (err) {
    showError("Closing tunnel " + id + " failed: " + err.message);
    button.disabled = false;
    button.textContent = "Close";
  }
}

$("sort-oldest").onclick = () => sortBy("oldest");
$("sort-busiest").onclick = () => sortBy("busiest");
`;
