import assert from "node:assert/strict";
import { receiveProxyHeader } from "../../lib/admit/proxy_header.ts";
import { type Cidr, parseCidr } from "../../lib/net/cidr.ts";
import type { Addr } from "../../lib/runtime/types.ts";
import { type Script, ScriptedConn, tcp } from "../_scripted_conn.ts";

const TRUSTED = ["10.0.0.0/8", "::1"].map((t) => parseCidr(t) as Cidr);
const HTTP = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";

const cases: {
  name: string;
  peer: Addr;
  chunks: Script;
  remote?: Addr;
  local?: Addr;
  rest?: string;
  rejected?: RegExp;
}[] = [
  {
    name: "v1 and the request in one chunk",
    peer: tcp("10.1.1.1", 5000),
    chunks: [`PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\n${HTTP}`],
    remote: tcp("203.0.113.7", 40000),
    local: tcp("198.51.100.1", 443),
    rest: HTTP,
  },
  {
    name: "v1 split over several reads, then the request",
    peer: tcp("10.1.1.1", 5000),
    chunks: ["PRO", "XY TCP6 2001:db8::7 2001:db8::1 1 2", "\r", `\n${HTTP.slice(0, 5)}`, HTTP.slice(5)],
    remote: tcp("2001:db8::7", 1),
    local: tcp("2001:db8::1", 2),
    rest: HTTP,
  },
  {
    name: "v2 LOCAL keeps the connection's own addresses",
    peer: tcp("::1", 5000),
    chunks: [
      Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0, 0, 0]),
    ],
    remote: tcp("::1", 5000),
    local: tcp("127.0.0.1", 8020),
    rest: "",
  },
  {
    name: "a unix-socket peer is local and trusted",
    peer: { transport: "unix", path: "" },
    chunks: [`PROXY TCP4 203.0.113.7 198.51.100.1 1 2\r\n`],
    remote: tcp("203.0.113.7", 1),
    rest: "",
  },
  {
    name: "untrusted peer",
    peer: tcp("192.0.2.1", 5000),
    chunks: [`PROXY TCP4 203.0.113.7 198.51.100.1 1 2\r\n`],
    rejected: /peer 192\.0\.2\.1 is not in trusted_proxies/,
  },
  {
    name: "no header, plain HTTP",
    peer: tcp("10.0.0.1", 1),
    chunks: [HTTP],
    rejected: /malformed PROXY header/,
  },
  {
    name: "malformed v1",
    peer: tcp("10.0.0.1", 1),
    chunks: ["PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"],
    rejected: /5 fields/,
  },
  { name: "EOF mid-header", peer: tcp("10.0.0.1", 1), chunks: ["PROXY TCP4 ", null], rejected: /closed/ },
  {
    name: "timeout mid-header",
    peer: tcp("10.0.0.1", 1),
    chunks: ["PROXY TCP4 ", "hang"],
    rejected: /within 50 ms/,
  },
];

for (const c of cases) {
  Deno.test(`receiveProxyHeader: ${c.name}`, async () => {
    const conn = new ScriptedConn(c.peer, c.chunks);
    const result = await receiveProxyHeader(conn, { trusted: TRUSTED, timeoutMs: 50 });
    if (c.rejected) {
      assert.ok("rejected" in result, "accepted");
      assert.match(result.rejected, c.rejected);
      return;
    }
    assert.ok(!("rejected" in result), JSON.stringify(result));
    assert.deepEqual(result.remoteAddr, c.remote);
    if (c.local) assert.deepEqual(result.localAddr, c.local);
    // What followed the header comes out first, then the rest of the stream, byte for byte.
    let text = "";
    while (text.length < (c.rest ?? "").length) {
      const chunk = await result.read();
      if (chunk === null) break;
      text += new TextDecoder().decode(chunk);
    }
    assert.equal(text, c.rest);
  });
}
