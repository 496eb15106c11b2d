/**
 * REQUEST IDS: one per request, sent upstream under `request_id_header` and written in the
 * `tunnel_open` and `access` records. A trusted proxy's ID is kept (one request, one ID across
 * the hops); anyone else's is replaced, so a client cannot plant an ID in the backend's logs.
 */
import { Buffer } from "node:buffer";
import { getHeaderValues, type Header } from "./headers.ts";

/** What a kept ID may look like: visible ASCII, at most this long. */
const MAX_KEPT_LENGTH = 200;
const VISIBLE = /^[\x21-\x7e]+$/;

/** The request's ID: the trusted peer's single well-formed value, else a new one. */
export function requestIdFor(headers: readonly Header[], name: string, trusted: boolean): string {
  if (trusted) {
    const values = getHeaderValues(headers as Header[], name);
    const value = values[0];
    // A copy: the value is a slice of the request head's text, which it would keep alive as long
    // as the access record holds it (a tunnel's days).
    if (values.length === 1 && value!.length <= MAX_KEPT_LENGTH && VISIBLE.test(value!)) {
      return Buffer.from(value!, "latin1").toString("latin1");
    }
  }
  return newRequestId();
}

/** Random bytes drawn in batches: one getRandomValues call per 256 IDs instead of one each. */
const POOL = Buffer.alloc(4096);
let used = POOL.length;

/** 128 random bits as 32 lower-case hex digits (like nginx's $request_id), in one native call
 * rather than a string built from sixteen pieces. */
export function newRequestId(): string {
  if (used === POOL.length) {
    crypto.getRandomValues(POOL);
    used = 0;
  }
  used += 16;
  return POOL.toString("hex", used - 16, used);
}
