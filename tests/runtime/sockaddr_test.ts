import assert from "node:assert/strict";
import { keyOfFd, type NameCall, socketKey } from "../../lib/runtime/sockaddr.ts";

/** sockaddr_in (AF_INET 2) or sockaddr_in6 (AF_INET6 10), as Linux's C library fills it. */
function sockaddr(family: number, port: number, ip: number[]): Uint8Array {
  const bytes = new Uint8Array(family === 2 ? 16 : 28);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, family, true);
  view.setUint16(2, port, false);
  bytes.set(ip, family === 2 ? 4 : 8);
  return bytes;
}

/** getsockname/getpeername of one descriptor (3) that answer with these addresses; -1 elsewhere. */
function calls(local: Uint8Array | undefined, peer: Uint8Array | undefined) {
  const call = (filled: Uint8Array | undefined): NameCall => (fd, out, length) => {
    if (fd !== 3 || filled === undefined || length[0]! < filled.length) return -1;
    out.set(filled);
    length[0] = filled.length;
    return 0;
  };
  return { getsockname: call(local), getpeername: call(peer) };
}

const tcp = (hostname: string, port: number) => ({ transport: "tcp" as const, hostname, port });
const V6_LOOPBACK = [...Array(15).fill(0), 1];

Deno.test("keyOfFd: the descriptor's own and peer addresses give the key socketKey makes of the Addrs", () => {
  const v4 = calls(sockaddr(2, 8443, [127, 0, 0, 1]), sockaddr(2, 40_000, [127, 0, 0, 2]));
  assert.equal(keyOfFd(v4, 3), socketKey(tcp("127.0.0.1", 8443), tcp("127.0.0.2", 40_000)));
  // An IPv4 client on a dual-stack socket is named either way.
  assert.equal(keyOfFd(v4, 3), socketKey(tcp("::ffff:127.0.0.1", 8443), tcp("::ffff:127.0.0.2", 40_000)));
  const v6 = calls(sockaddr(10, 8443, V6_LOOPBACK), sockaddr(10, 40_000, V6_LOOPBACK));
  assert.equal(keyOfFd(v6, 3), socketKey(tcp("::1", 8443), tcp("::1", 40_000)));
});

Deno.test("keyOfFd: another connection, a listener, no socket, another family", () => {
  const v4 = calls(sockaddr(2, 8443, [127, 0, 0, 1]), sockaddr(2, 40_000, [127, 0, 0, 2]));
  assert.notEqual(keyOfFd(v4, 3), socketKey(tcp("127.0.0.1", 8443), tcp("127.0.0.2", 40_001)));
  assert.notEqual(keyOfFd(v4, 3), socketKey(tcp("127.0.0.1", 8444), tcp("127.0.0.2", 40_000)));
  // A listener has no peer: its key is the one socketKey makes without one.
  assert.equal(
    keyOfFd(calls(sockaddr(2, 8443, [127, 0, 0, 1]), undefined), 3),
    socketKey(tcp("127.0.0.1", 8443)),
  );
  assert.equal(keyOfFd(v4, 4), undefined, "not a socket");
  assert.equal(keyOfFd(calls(sockaddr(1, 0, []), undefined), 3), undefined, "AF_UNIX");
});

Deno.test("socketKey: only TCP addresses with an IP have one", () => {
  assert.equal(socketKey({ transport: "unix", path: "/tmp/x.sock" }), undefined);
  assert.equal(socketKey(tcp("localhost", 80)), undefined);
  assert.equal(socketKey(tcp("127.0.0.1", 80), tcp("", 0)), undefined);
});
