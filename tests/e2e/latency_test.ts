/**
 * TCP no-delay on every socket (DESIGN §4 "Tunnel"), TLS ones included: with Nagle's algorithm on,
 * a small TLS write waits for the peer's delayed ACK, ~40 ms on Linux, so every wss handshake costs
 * that much (TLS 1.2: inside the TLS handshake; TLS 1.3: before the 101). The bound is generous
 * (20 ms for the median of 20 handshakes on loopback, where one takes a few ms) but catches 40.
 * Clients and the TLS backend here set no-delay themselves, so only the gateway's sockets count.
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import { switching, wsEchoBackend } from "./_backends.ts";
import { CERTS, startGateway, toYaml } from "./_harness.ts";
import { ByteReader, bytes, parseResponseHead, PY_READ_HEAD, upgradeRequest } from "./_wire.ts";

const HANDSHAKES = 20;
const MEDIAN_LIMIT_MS = 20;

const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * The median of wss upgrades by Python's ssl (OpenSSL) at exactly `version`. Like curl, it completes
 * the handshake, then sends the request at once; at TLS 1.3 the request then overtakes the server's
 * session tickets, which stay unacknowledged while the upstream answers, and Nagle holds the 101
 * back behind them. (Deno's and node:tls's clients are timed differently and do not always show
 * the 1.3 delay.)
 */
const PYTHON_CLIENT = String.raw`
import json, socket, ssl, statistics, sys, time
${PY_READ_HEAD}
port, version, count, ca, request = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
context = ssl.create_default_context(cafile=ca)
context.minimum_version = context.maximum_version = getattr(ssl.TLSVersion, version)
times = []
for _ in range(count):
    started = time.perf_counter()
    tcp = socket.create_connection(("127.0.0.1", port), timeout=5)
    tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = context.wrap_socket(tcp, server_hostname="localhost")
    conn.sendall(request.encode())
    head = read_head(conn)
    assert head.startswith(b"HTTP/1.1 101 "), head[:40]
    times.append((time.perf_counter() - started) * 1000)
    conn.close()
print(json.dumps(statistics.median(times)))
`;

async function wssMedian(port: number, version: "TLSv1_2" | "TLSv1_3"): Promise<number> {
  const args = [String(port), version, String(HANDSHAKES), `${CERTS}ca.pem`, upgradeRequest()];
  const out = await new Deno.Command("python3", {
    args: ["-c", PYTHON_CLIENT, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const dec = new TextDecoder();
  assert.ok(out.success, dec.decode(out.stderr));
  return Number(dec.decode(out.stdout));
}

/** One plain ws upgrade: milliseconds until the 101 arrived. */
async function wsUpgrade(port: number): Promise<number> {
  const started = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const reader = new ByteReader(conn);
  try {
    await conn.write(bytes(upgradeRequest()));
    const head = await reader.readHead(5_000);
    assert.equal(parseResponseHead(head ?? "").status, 101);
    return performance.now() - started;
  } finally {
    await reader.close();
  }
}

Deno.test("wss listener: a handshake takes no Nagle delay, TLS 1.3 and TLS 1.2", async () => {
  // A real WebSocket server: its 101 takes long enough for the session tickets to go out alone
  // (a scripted backend answering at once lets them leave with the 101).
  await using backend = await wsEchoBackend();
  await using gw = await startGateway({
    args: [
      "--listen",
      "127.0.0.1:0",
      "--upstream",
      backend.address,
      "--tls-cert",
      `${CERTS}localhost.pem`,
      "--tls-key",
      `${CERTS}localhost-key.pem`,
    ],
  });
  for (const version of ["TLSv1_3", "TLSv1_2"] as const) {
    const ms = await wssMedian(gw.port, version);
    assert.ok(ms < MEDIAN_LIMIT_MS, `${version}: median ${ms.toFixed(1)} ms per wss handshake`);
  }
});

Deno.test("wss upstream: a handshake through it takes no Nagle delay", async () => {
  // A TLS backend that answers each upgrade with its 101 at once, no-delay on its side.
  const server = tls.createServer({
    cert: Deno.readTextFileSync(`${CERTS}backend.pem`),
    key: Deno.readTextFileSync(`${CERTS}backend-key.pem`),
  }, (socket) => {
    socket.setNoDelay(true);
    let head = "";
    socket.on("data", (chunk: Uint8Array) => {
      head += new TextDecoder().decode(chunk);
      if (head.includes("\r\n\r\n")) socket.write(switching(head));
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as { port: number };
    await using gw = await startGateway({
      config: toYaml({
        servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
        upstreams: {
          app: {
            servers: [{ address: `wss://127.0.0.1:${port}` }],
            tls: { server_name: "backend.test", ca: `${CERTS}ca.pem` },
          },
        },
      }),
    });
    const times: number[] = [];
    for (let i = 0; i < HANDSHAKES; i++) times.push(await wsUpgrade(gw.port));
    const ms = median(times);
    assert.ok(ms < MEDIAN_LIMIT_MS, `median ${ms.toFixed(1)} ms per handshake through a wss upstream`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
