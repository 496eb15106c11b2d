import assert from "node:assert/strict";
import { HttpError } from "../../lib/errors.ts";
import {
  isNotTlsHandshakeError,
  isPlainHttpHandshakeError,
  notTlsRefusal,
  PLAIN_HTTP_ANSWER,
  plainHttpRefusal,
} from "../../lib/tls/plain_http.ts";

/** An error as Bun or node:tls raises it: a message and maybe a `code`. */
function tlsError(message: string, code?: string): Error {
  return Object.assign(new Error(message), code === undefined ? {} : { code });
}

Deno.test("isPlainHttpHandshakeError: BoringSSL's HTTP_REQUEST and HTTPS_PROXY_REQUEST, as Bun.listen and node:tls report them", () => {
  // Bun.listen: only the message names it.
  assert.ok(
    isPlainHttpHandshakeError(
      tlsError("error:1000009c:SSL routines:OPENSSL_internal:HTTP_REQUEST", "EPROTO"),
    ),
  );
  assert.ok(
    isPlainHttpHandshakeError(
      tlsError("error:1000009b:SSL routines:OPENSSL_internal:HTTPS_PROXY_REQUEST", "EPROTO"),
    ),
  );
  // node:tls: the code names it, whatever the message.
  assert.ok(isPlainHttpHandshakeError(tlsError("handshake failed", "ERR_SSL_HTTP_REQUEST")));
  assert.ok(isPlainHttpHandshakeError(tlsError("handshake failed", "ERR_SSL_HTTPS_PROXY_REQUEST")));
});

Deno.test("isPlainHttpHandshakeError: any other failure, or something that is no Error, is not plain HTTP", () => {
  const others: unknown[] = [
    tlsError("error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER", "EPROTO"),
    tlsError(
      "error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER",
      "ERR_SSL_WRONG_VERSION_NUMBER",
    ),
    tlsError("error:1000009c:SSL routines:OPENSSL_internal:HTTP_REQUEST_SOMETHING"),
    tlsError("OPENSSL_internal:HTTP_REQUEST in the middle of a sentence"),
    tlsError("HTTP_REQUEST"),
    tlsError("", "ERR_SSL_HTTP"),
    "error:1000009c:SSL routines:OPENSSL_internal:HTTP_REQUEST",
    { message: "error:1000009c:SSL routines:OPENSSL_internal:HTTP_REQUEST", code: "ERR_SSL_HTTP_REQUEST" },
    null,
    undefined,
  ];
  for (const err of others) assert.equal(isPlainHttpHandshakeError(err), false, String(err));
});

Deno.test("isNotTlsHandshakeError: rustls's InvalidContentType and nothing else", () => {
  assert.ok(isNotTlsHandshakeError(new Error("received corrupt message of type InvalidContentType")));
  assert.equal(
    isNotTlsHandshakeError(new Error("received corrupt message of type InvalidContentTypes")),
    false,
  );
  assert.equal(isNotTlsHandshakeError(new Error("peer is incompatible: NoCipherSuitesInCommon")), false);
  assert.equal(isNotTlsHandshakeError(new Error("operation would block")), false);
  assert.equal(isNotTlsHandshakeError("received corrupt message of type InvalidContentType"), false);
  assert.equal(isNotTlsHandshakeError(null), false);
});

Deno.test("PLAIN_HTTP_ANSWER: a closed, plain-text 400 whose body says where the request went", () => {
  const answer = new TextDecoder().decode(PLAIN_HTTP_ANSWER);
  const [head, body] = answer.split("\r\n\r\n") as [string, string];
  const [status, ...fields] = head.split("\r\n");
  assert.equal(status, "HTTP/1.1 400 Bad Request");
  assert.deepEqual(fields, [
    "Content-Type: text/plain; charset=utf-8",
    `Content-Length: ${new TextEncoder().encode(body).length}`,
    "Connection: close",
  ]);
  assert.match(body, /^400 Bad Request: the plain HTTP request was sent to an HTTPS port .*\n$/);
});

Deno.test("refusals: a 400 HttpError each, with a reason for the log", () => {
  for (const refusal of [plainHttpRefusal(), notTlsRefusal()]) {
    assert.ok(refusal instanceof HttpError);
    assert.equal(refusal.status, 400);
    assert.deepEqual(refusal.headers, []);
  }
  assert.equal(plainHttpRefusal().message, "plain HTTP request on a TLS port");
  assert.match(notTlsRefusal().message, /^not TLS on a TLS port/);
});
