/**
 * The scripted upstream of the DESIGN §4 contract tests (contract_wire_*_test.ts) and the one gateway
 * in front of it: what the upstream does depends on the request path, so each row picks its behaviour.
 */
import { keyOf, type RawBackend, rawBackend, type RawPeer, switching } from "./_backends.ts";
import { readN } from "./_contract.ts";
import { type Gateway, startGateway, toYaml } from "./_harness.ts";
import { acceptFor, bytes, CRLF } from "./_wire.ts";

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

/** One gateway for the §4 rows: its route `/ws/` leads to the scripted upstream. */
export async function wireGateway(): Promise<WireGateway> {
  const afterHead = new Map<string, Uint8Array>();
  const raw = rawBackend((peer) => script(peer, afterHead));
  let gw: Gateway;
  try {
    gw = await startGateway({
      config: toYaml({
        servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/ws/", upstream: "raw" }] }],
        upstreams: { raw: { servers: [raw.address] } },
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
  const name = path.split("?")[0]!.replace(/^\/[a-z-]+\//, "");
  switch (name) {
    case "echo": // raw echo of whatever comes, until EOF
      await peer.write(ok);
      while (await peer.reader.fill(10_000)) await peer.write(peer.reader.take(peer.reader.buffered.length));
      return;
    case "plain": {
      const length = Number(/^content-length:\s*(\d+)/im.exec(peer.head)?.[1] ?? 0);
      afterHead.set(path, await readN(peer.reader, length));
      return void await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nplain");
    }
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
    case "variant": // a valid 101 written differently: token case, a list in Connection, an extension
      await peer.write(
        `HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n` +
          `sec-websocket-accept: ${
            acceptFor(keyOf(peer.head))
          }\r\nSec-WebSocket-Extensions: x-test; a=1\r\n\r\n`,
      );
      return void await peer.reader.readToEnd(10_000);
    case "dribble": // the 101 one byte per write, then echo
      for (const b of bytes(ok)) await peer.write(new Uint8Array([b]));
      while (await peer.reader.fill(10_000)) await peer.write(peer.reader.take(peer.reader.buffered.length));
      return;
    default:
      await peer.write(ok);
      return void await peer.reader.readToEnd(10_000);
  }
}
