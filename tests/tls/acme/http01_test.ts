/** Which requests are the CA fetching an HTTP-01 token, and the answer it gets. */
import assert from "node:assert/strict";
import { challengeResponse, challengeToken } from "../../../lib/tls/acme/http01.ts";

const TOKEN = "DqqdQrDUEqjC-_Jh_W5mZNe8_0NicuLe7ofQAenB65Y";

Deno.test("challengeToken: GET /.well-known/acme-challenge/TOKEN only", () => {
  assert.equal(challengeToken("GET", `/.well-known/acme-challenge/${TOKEN}`), TOKEN);
  const not: [string, string][] = [
    ["POST", `/.well-known/acme-challenge/${TOKEN}`],
    ["HEAD", `/.well-known/acme-challenge/${TOKEN}`],
    ["GET", "/.well-known/acme-challenge/"],
    ["GET", "/.well-known/acme-challenge/../x"],
    ["GET", "/.well-known/acme-challenge/%2e%2e/x"],
    ["GET", `/.well-known/acme-challenge/${TOKEN}/x`],
    ["GET", `/.well-known/acme-challenge/${TOKEN}?x=1`],
    ["GET", `/.well-known/acme-challenge/${TOKEN}.`],
    ["GET", `/.WELL-KNOWN/acme-challenge/${TOKEN}`],
    ["GET", `//.well-known/acme-challenge/${TOKEN}`],
    ["GET", `/.well-known/acme-challenge/${"a".repeat(129)}`],
    ["GET", "/.well-known/acme-challenge/a b"],
    ["GET", "/.well-known/acme-challenge/a\r\nX-Injected: 1"],
  ];
  for (const [method, path] of not) {
    assert.equal(challengeToken(method, path), undefined, `${method} ${path}`);
  }
});

Deno.test("challengeResponse: 200 with the key authorization as the whole body, closed", () => {
  const keyAuthorization = `${TOKEN}.thumbprint`;
  assert.equal(
    new TextDecoder().decode(challengeResponse(keyAuthorization)),
    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" +
      `Content-Length: ${keyAuthorization.length}\r\nConnection: close\r\n\r\n${keyAuthorization}`,
  );
  // Length in bytes, not characters.
  assert.match(new TextDecoder().decode(challengeResponse("é")), /Content-Length: 2\r\n/);
});
