/**
 * RELAY: the answers that are not a tunnel. A final non-101 answer is relayed with exactly its
 * body; the connection then closes unless `persist` keeps it for another request.
 */
import { serializeResponseHead } from "../http/head.ts";
import { type BodyFraming, responseBodyFraming } from "../http/chunked.ts";
import { closeDelimitedHeaders, persistentHeaders } from "../http/hop_headers.ts";
import { BodyCutter, relayBody, type RelayTimeouts } from "./body.ts";
import { concat, EMPTY, transientBytes } from "../net/bytes.ts";
import type { Answer } from "../upstream/answer.ts";
import type { Header } from "../http/headers.ts";
import type { Conn } from "../runtime/types.ts";

export interface Relayed {
  /** Body bytes relayed. */
  bytes: number;
  /** The client was told the connection persists (no `Connection: close`). */
  persisted: boolean;
  /** The upstream sent exactly one delimited answer: no byte after its body (the connection
   * may be reused for another request). */
  exact: boolean;
}

/** Writes a final non-101 answer (its headers edited by the route's rules) and its body to the client. */
export async function relayResponse(
  upstream: Conn,
  client: Conn,
  answer: Answer,
  requestMethod: string,
  timeouts: RelayTimeouts,
  options: {
    /** The route's response_headers. */
    edit?: (headers: Header[]) => Header[];
    /** From the body's framing: the client may send another request on the connection. */
    persist?: (framing: BodyFraming) => boolean;
  } = {},
): Promise<Relayed> {
  const { response } = answer;
  const framing = responseBodyFraming(response, requestMethod);
  const persisted = options.persist?.(framing) ?? false;
  const relayed = persisted ? persistentHeaders(response.headers) : closeDelimitedHeaders(response.headers);
  const headers = options.edit ? options.edit(relayed) : relayed;
  const head = serializeResponseHead({ ...response, version: "HTTP/1.1", headers });
  const cutter = new BodyCutter(framing);
  // What came with the head goes out with it, in one write: a small answer is one segment, and on
  // a kept-alive connection its body never waits behind the head for the client's delayed ACK.
  const first = cutter.cut(answer.rest);
  await client.write(first.length > 0 ? concat(head, first, transientBytes) : head);
  const bytes = first.length + await relayBody(upstream, client, cutter, EMPTY, timeouts);
  return { bytes, persisted, exact: framing.kind !== "close" && cutter.leftover.length === 0 };
}
