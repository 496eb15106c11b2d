/**
 * HTTP-01 (RFC 8555 §8.3), pure: which requests are the CA fetching a pending challenge, and the
 * answer. A token the gateway has not handed out is not answered here: the request is routed like
 * any other, so a backend that runs its own ACME client behind wsgate keeps working.
 */
import { concat } from "../../net/bytes.ts";

export const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
/** A token is base64url (RFC 8555 §8.1); CAs use 43 characters (256 bits). Anything else, a
 * dot-segment or a path of a kilobyte included, is not a token and goes on to routing. */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** The key authorization a pending challenge's token must be answered with, if it is pending
 * (a worker process reads it from the storage its supervisor writes). */
export type ChallengeLookup = (token: string) => Promise<string | undefined>;

/** The token a request asks for, when it is `GET /.well-known/acme-challenge/TOKEN`. */
export function challengeToken(method: string, path: string): string | undefined {
  if (method !== "GET" || !path.startsWith(CHALLENGE_PREFIX)) return undefined;
  const token = path.slice(CHALLENGE_PREFIX.length);
  return TOKEN.test(token) ? token : undefined;
}

/** The whole answer to the CA's request: the key authorization as text (RFC 8555 §8.3). */
export function challengeResponse(keyAuthorization: string): Uint8Array {
  const body = new TextEncoder().encode(keyAuthorization);
  const head = new TextEncoder().encode(
    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
  );
  return concat(head, body);
}
