/**
 * The scripted upstream of the DESIGN §4 contract tests (contract_wire_*_test.ts) and the one gateway
 * in front of it: what the upstream does depends on the request path, so each row picks its behaviour.
 */
import { deadPort, keyOf, type RawBackend, rawBackend, type RawPeer, switching } from "./_backends.ts";
import { readN } from "./_contract.ts";
import { type Gateway, startGateway, toYaml } from "./_harness.ts";
import { acceptFor, bytes, concat, CRLF, encodeFrame, Opcode, readFrame, text } from "./_wire.ts";

/** The request target of a head, query included. */
export const pathOf = (raw: string): string => raw.split(" ")[1] ?? "";

/** Header fields of a request head, names lower-cased, in order. */
function fields(raw: string): [string, string][] {
  return raw.split(CRLF).slice(1).filter((l) => l !== "").map((l) => {
    const colon = l.indexOf(":");
    return [l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim()];
  });
}

/** Every value of header `name` (lower-case) in a request head, in order. */
export const all = (raw: string, name: string): string[] =>
  fields(raw).filter(([n]) => n === name).map(([, v]) => v);

/** The gateway, its scripted upstream, and what each upstream connection read after its head, by path. */
export interface WireGateway extends AsyncDisposable {
  readonly gw: Gateway;
  readonly raw: RawBackend;
  readonly afterHead: Map<string, Uint8Array>;
}

/**
 * One gateway for all §4 rows: `/ws/` and `= /exact` to the scripted upstream, `/only/` websocket_only,
 * `/dead/` to two dead ports, `/retry/` to a dead port then the upstream; handshake_timeout 2 s.
 */
export async function wireGateway(): Promise<WireGateway> {
  const afterHead = new Map<string, Uint8Array>();
  const raw = rawBackend((peer) => script(peer, afterHead));
  const [dead1, dead2] = [deadPort(), deadPort()];
  let gw: Gateway;
  try {
    gw = await startGateway({
      config: toYaml({
        servers: [{
          listen: ["127.0.0.1:0"],
          routes: [
            { path: "/ws/", upstream: "raw" },
            { path: "= /exact", upstream: "raw" },
            { path: "/only/", upstream: "raw", websocket_only: true },
            { path: "/dead/", upstream: "dead" },
            { path: "/retry/", upstream: "retry" },
          ],
        }],
        upstreams: {
          raw: { servers: [{ address: raw.address, max_fails: 0 }] }, // failures here are on purpose
          dead: { servers: [`127.0.0.1:${dead1}`, `127.0.0.1:${dead2}`] },
          retry: { servers: [`127.0.0.1:${dead1}`, raw.address] },
        },
        limits: { handshake_timeout: 2, max_head_bytes: 4096 },
      }),
    });
  } catch (err) {
    await raw.close();
    throw err;
  }
  return {
    gw,
    raw,
    afterHead,
    async [Symbol.asyncDispose]() {
      await gw[Symbol.asyncDispose]();
      await raw.close();
    },
  };
}

/** One upstream connection: its behaviour is named by the request path after the route prefix. */
async function script(peer: RawPeer, afterHead: Map<string, Uint8Array>): Promise<void> {
  const path = pathOf(peer.head);
  const ok = switching(peer.head);
  const frame = (s: string) => encodeFrame(Opcode.text, bytes(s), { mask: false });
  const name = path.split("?")[0]!.replace(/^\/[a-z-]+\//, "");
  switch (name) {
    case "echo": // raw echo of whatever comes, until EOF
      await peer.write(ok);
      while (await peer.reader.fill(10_000)) await peer.write(peer.reader.take(peer.reader.buffered.length));
      return;
    case "rebuild":
      await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Accept: ${acceptFor(keyOf(peer.head))}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`,
      );
      return;
    case "early": { // 101 and a frame in one write; then echo the client's first frame
      await peer.write(concat([bytes(ok), frame("early-server")]));
      const got = await readFrame(peer.reader, 5_000);
      await peer.write(frame(`echo:${got ? text(got.payload) : "EOF"}`));
      return;
    }
    case "bad-accept":
      return void await peer.write(switching(peer.head, acceptFor("AAAAAAAAAAAAAAAAAAAAAA==")));
    case "no-upgrade":
      return void await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${
          acceptFor(keyOf(peer.head))
        }\r\n\r\n`,
      );
    case "no-connection":
      return void await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${
          acceptFor(keyOf(peer.head))
        }\r\n\r\n`,
      );
    case "403": // keep-alive style: the backend does not close, the body length ends the answer
      await peer.write(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nforbidden",
      );
      return void await peer.closing;
    case "chunked":
      await peer.write(
        "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      );
      return void await peer.closing;
    case "eof-body":
      return void await peer.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    case "silent":
      return void await peer.closing;
    case "close-early":
      return;
    case "half-client": { // read to EOF, then still answer
      await peer.write(ok);
      const got = await peer.reader.readToEnd(5_000);
      afterHead.set(path, got);
      return void await peer.write(`got:${text(got)}`);
    }
    case "half-upstream": // FIN first, then keep reading the client
      await peer.write(ok + "bye");
      await peer.conn.closeWrite();
      afterHead.set(path, await peer.reader.readToEnd(5_000));
      return;
    case "count": // read 10 bytes, send 20, then wait for the client to close
      await peer.write(ok);
      await readN(peer.reader, 10);
      await peer.write(new Uint8Array(20).fill(65));
      await peer.reader.readToEnd(5_000);
      return;
    case "upstream-closes":
      await peer.write(ok);
      await readN(peer.reader, 3);
      return;
    case "plain": {
      const length = Number(/^content-length:\s*(\d+)/im.exec(peer.head)?.[1] ?? 0);
      afterHead.set(path, await readN(peer.reader, length));
      return void await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain");
    }
    case "head-keepalive": // a HEAD answer announces a length but has no body; the backend keeps the socket
      await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
      return void await peer.closing;
    case "204":
      await peer.write("HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
      return void await peer.closing;
    case "304":
      await peer.write("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
      return void await peer.closing;
    case "keepalive": // a keep-alive answer to a plain request: the client must still get one answer and a close
      await peer.write(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
      );
      return void await peer.closing;
    case "chunked-body": { // a plain POST with a chunked body: echo what arrived after the head
      const got = await readN(peer.reader, 15);
      afterHead.set(path, got);
      return void await peer.write(`HTTP/1.1 200 OK\r\nContent-Length: ${got.length}\r\n\r\n${text(got)}`);
    }
    case "variant": // a valid 101 written differently: token case, a list in Connection, an extension
      await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n` +
          `sec-websocket-accept: ${
            acceptFor(keyOf(peer.head))
          }\r\nSec-WebSocket-Extensions: x-test; a=1\r\n\r\n`,
      );
      return void await peer.reader.readToEnd(10_000);
    case "no-accept":
      return void await peer.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      );
    case "garbage":
      return void await peer.write("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    case "dribble": // the 101 one byte per write, then echo
      for (const b of bytes(ok)) await peer.write(new Uint8Array([b]));
      while (await peer.reader.fill(10_000)) await peer.write(peer.reader.take(peer.reader.buffered.length));
      return;
    default:
      await peer.write(ok);
      return void await peer.reader.readToEnd(10_000);
  }
}
