import assert from "node:assert/strict";
import { HttpError } from "../../lib/errors.ts";
import { parseRequestHead, parseResponseHead } from "../../lib/http/head.ts";
import {
  checkUpgradeRequest,
  checkUpgradeResponse,
  computeAccept,
  isWebSocketUpgrade,
  WEBSOCKET_GUID,
} from "../../lib/http/upgrade.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const encode = (lines: string[]): Uint8Array => new TextEncoder().encode(`${lines.join("\r\n")}\r\n\r\n`);

const CHROME = [
  "Host: example.com",
  "Connection: Upgrade",
  "Upgrade: websocket",
  `Sec-WebSocket-Key: ${KEY}`,
  "Sec-WebSocket-Version: 13",
];

/** A request from CHROME's fields with `replace` applied (a null value removes the field). */
function upgradeRequest(replace: Record<string, string | null> = {}, requestLine = "GET /ws HTTP/1.1") {
  const fields = CHROME.filter((line) => !(line.slice(0, line.indexOf(":")) in replace));
  for (const [name, value] of Object.entries(replace)) {
    if (value !== null) fields.push(`${name}: ${value}`);
  }
  return parseRequestHead(encode([requestLine, ...fields]));
}

Deno.test("computeAccept matches the RFC 6455 §1.3 example", () => {
  assert.equal(WEBSOCKET_GUID, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  assert.equal(computeAccept(KEY), ACCEPT);
});

const detection: { name: string; upgrade: string | null; expect: boolean }[] = [
  { name: "websocket", upgrade: "websocket", expect: true },
  { name: "mixed case", upgrade: "WebSocket", expect: true },
  { name: "in a list", upgrade: "h2c, websocket", expect: true },
  { name: "h2c is plain HTTP", upgrade: "h2c", expect: false },
  { name: "no Upgrade header", upgrade: null, expect: false },
];

for (const { name, upgrade, expect } of detection) {
  Deno.test(`isWebSocketUpgrade: ${name}`, () => {
    assert.equal(isWebSocketUpgrade(upgradeRequest({ Upgrade: upgrade })), expect);
  });
}

const accepted: { name: string; replace: Record<string, string | null> }[] = [
  { name: "Chrome", replace: {} },
  { name: "Firefox keep-alive, Upgrade", replace: { Connection: "keep-alive, Upgrade" } },
  { name: "case-insensitive tokens", replace: { Connection: "UPGRADE", Upgrade: "WebSocket" } },
  { name: "Content-Length 0", replace: { "Content-Length": "0" } },
  { name: "lowercase field names", replace: { "Sec-WebSocket-Key": null, "sec-websocket-key": KEY } },
];

for (const { name, replace } of accepted) {
  Deno.test(`checkUpgradeRequest accepts: ${name}`, () => {
    assert.deepEqual(checkUpgradeRequest(upgradeRequest(replace)), { key: KEY });
  });
}

const rejected: {
  name: string;
  replace?: Record<string, string | null>;
  line?: string;
  status: number;
  reason: RegExp;
}[] = [
  { name: "POST", line: "POST /ws HTTP/1.1", status: 400, reason: /method POST/ },
  { name: "HTTP/1.0", line: "GET /ws HTTP/1.0", status: 400, reason: /HTTP\/1\.0, not HTTP\/1\.1/ },
  { name: "no Connection", replace: { Connection: null }, status: 400, reason: /Connection/ },
  {
    name: "Connection without upgrade",
    replace: { Connection: "keep-alive" },
    status: 400,
    reason: /Connection/,
  },
  { name: "Upgrade h2c", replace: { Upgrade: "h2c" }, status: 400, reason: /"websocket" in Upgrade/ },
  { name: "chunked body", replace: { "Transfer-Encoding": "chunked" }, status: 400, reason: /chunked body/ },
  {
    name: "Content-Length body",
    replace: { "Content-Length": "5" },
    status: 400,
    reason: /Content-Length body/,
  },
  {
    name: "missing version",
    replace: { "Sec-WebSocket-Version": null },
    status: 400,
    reason: /Missing .*Version/,
  },
  { name: "version 8", replace: { "Sec-WebSocket-Version": "8" }, status: 426, reason: /Unsupported .*"8"/ },
  { name: "version list", replace: { "Sec-WebSocket-Version": "13, 8" }, status: 426, reason: /Unsupported/ },
  {
    name: "missing key",
    replace: { "Sec-WebSocket-Key": null },
    status: 400,
    reason: /Missing Sec-WebSocket-Key/,
  },
  {
    name: "short key",
    replace: { "Sec-WebSocket-Key": "AAAA" },
    status: 400,
    reason: /not base64 of 16 bytes/,
  },
  {
    name: "key without padding",
    replace: { "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAAA" },
    status: 400,
    reason: /not base64/,
  },
  {
    name: "key of 17 bytes",
    replace: { "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAA=" },
    status: 400,
    reason: /not base64/,
  },
  {
    name: "key with invalid character",
    replace: { "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZ!==" },
    status: 400,
    reason: /not base64/,
  },
];

for (const { name, replace = {}, line, status, reason } of rejected) {
  Deno.test(`checkUpgradeRequest rejects with ${status}: ${name}`, () => {
    assert.throws(() => checkUpgradeRequest(upgradeRequest(replace, line)), (err: unknown) => {
      assert.ok(err instanceof HttpError, `not an HttpError: ${err}`);
      assert.equal(err.status, status);
      assert.match(err.message, reason);
      assert.deepEqual(
        err.headers,
        status === 426 ? [["Upgrade", "websocket"], ["Sec-WebSocket-Version", "13"]] : [],
      );
      return true;
    });
  });
}

Deno.test("checkUpgradeRequest rejects duplicated key and version fields", () => {
  const base = ["GET / HTTP/1.1", ...CHROME];
  const twice = (line: string) => parseRequestHead(encode([...base, line]));
  assert.throws(() => checkUpgradeRequest(twice(`Sec-WebSocket-Key: ${KEY}`)), /Multiple Sec-WebSocket-Key/);
  assert.throws(
    () => checkUpgradeRequest(twice("Sec-WebSocket-Version: 13")),
    /Multiple Sec-WebSocket-Version/,
  );
});

const GOOD_101 = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"];

const responses: { name: string; lines: string[]; offered?: string[]; problem?: RegExp }[] = [
  { name: "valid 101", lines: [...GOOD_101, `Sec-WebSocket-Accept: ${ACCEPT}`] },
  {
    name: "valid 101, case-insensitive tokens and chosen protocol",
    lines: [
      "HTTP/1.1 101 OK",
      "upgrade: WebSocket",
      "connection: upgrade",
      `Sec-WebSocket-Accept: ${ACCEPT}`,
      "Sec-WebSocket-Protocol: chat",
    ],
    offered: ["superchat", "chat"],
  },
  { name: "status 200", lines: ["HTTP/1.1 200 OK", "Content-Length: 0"], problem: /200 instead of 101/ },
  {
    name: "HTTP/1.0",
    lines: ["HTTP/1.0 101 X", ...GOOD_101.slice(1), `Sec-WebSocket-Accept: ${ACCEPT}`],
    problem: /HTTP\/1\.0/,
  },
  {
    name: "missing Upgrade",
    lines: [GOOD_101[0]!, "Connection: Upgrade", `Sec-WebSocket-Accept: ${ACCEPT}`],
    problem: /Upgrade/,
  },
  {
    name: "missing Connection",
    lines: [GOOD_101[0]!, "Upgrade: websocket", `Sec-WebSocket-Accept: ${ACCEPT}`],
    problem: /Connection/,
  },
  { name: "missing accept", lines: GOOD_101, problem: /without Sec-WebSocket-Accept/ },
  {
    name: "wrong accept",
    lines: [...GOOD_101, "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="],
    problem: /wrong/,
  },
  {
    name: "two accepts",
    lines: [...GOOD_101, `Sec-WebSocket-Accept: ${ACCEPT}`, `Sec-WebSocket-Accept: ${ACCEPT}`],
    problem: /multiple Sec-WebSocket-Accept/,
  },
  {
    name: "unoffered protocol",
    lines: [...GOOD_101, `Sec-WebSocket-Accept: ${ACCEPT}`, "Sec-WebSocket-Protocol: other"],
    offered: ["chat"],
    problem: /"other", which the client did not offer/,
  },
  {
    name: "protocol when none was offered",
    lines: [...GOOD_101, `Sec-WebSocket-Accept: ${ACCEPT}`, "Sec-WebSocket-Protocol: chat"],
    problem: /did not offer/,
  },
  {
    name: "protocol case differs",
    lines: [...GOOD_101, `Sec-WebSocket-Accept: ${ACCEPT}`, "Sec-WebSocket-Protocol: Chat"],
    offered: ["chat"],
    problem: /did not offer/,
  },
];

for (const { name, lines, offered = [], problem } of responses) {
  Deno.test(`checkUpgradeResponse: ${name}`, () => {
    const result = checkUpgradeResponse(parseResponseHead(encode(lines)), {
      key: KEY,
      offeredProtocols: offered,
    });
    if (problem === undefined) assert.equal(result, undefined);
    else assert.match(result ?? "", problem);
  });
}
