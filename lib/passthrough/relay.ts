/**
 * RELAY: the answers that are not a tunnel. A final non-101 answer is relayed with exactly its
 * body, on a connection that then closes.
 */
import { serializeResponseHead } from "../http/head.ts";
import { responseBodyFraming } from "../http/chunked.ts";
import { closeDelimitedHeaders } from "../http/hop_headers.ts";
import { BodyCutter, relayBody, type RelayTimeouts } from "./body.ts";
import type { Answer } from "../upstream/answer.ts";
import type { Header } from "../http/headers.ts";
import type { Conn } from "../runtime/types.ts";

/** Writes a final non-101 answer and its body to the client; returns the body bytes. */
export async function relayResponse(
  upstream: Conn,
  client: Conn,
  answer: Answer,
  requestMethod: string,
  timeouts: RelayTimeouts,
  /** The route's response_headers. */
  edit?: (headers: Header[]) => Header[],
): Promise<number> {
  const { response } = answer;
  const headers = closeDelimitedHeaders(response.headers);
  await client.write(
    serializeResponseHead({ ...response, version: "HTTP/1.1", headers: edit ? edit(headers) : headers }),
  );
  const cutter = new BodyCutter(responseBodyFraming(response, requestMethod));
  return await relayBody(upstream, client, cutter, answer.rest, timeouts);
}
