import assert from "node:assert/strict";
import type { Header } from "../../lib/http/headers.ts";
import {
  closeDelimitedHeaders,
  HOP_BY_HOP_HEADERS,
  removeHopByHop,
  upgradeRequestHeaders,
} from "../../lib/http/hop_headers.ts";

const h = (name: string, value: string): Header => ({ name, value });

Deno.test("HOP_BY_HOP_HEADERS lists RFC 9110 §7.6.1 and the proxy auth headers, lowercase", () => {
  assert.deepEqual([...HOP_BY_HOP_HEADERS].sort(), [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
  ]);
});

const removals: { name: string; input: Header[]; keep?: string[]; expect: string[] }[] = [
  {
    name: "every table entry, in any case",
    input: [
      h("Host", "a"),
      ...HOP_BY_HOP_HEADERS.map((name) => h(name.toUpperCase(), "x")),
      h("Accept", "*/*"),
    ],
    expect: ["Host", "Accept"],
  },
  {
    name: "headers named in Connection",
    input: [h("Connection", "keep-alive, X-Secret"), h("x-secret", "s"), h("X-Public", "p")],
    expect: ["X-Public"],
  },
  {
    name: "names from several Connection fields, with OWS and case",
    input: [h("Connection", " X-A ,"), h("connection", "x-b"), h("X-A", "1"), h("X-B", "2"), h("X-C", "3")],
    expect: ["X-C"],
  },
  {
    name: "keep survives, even when named in Connection",
    input: [h("Connection", "transfer-encoding"), h("Transfer-Encoding", "chunked"), h("TE", "trailers")],
    keep: ["transfer-encoding"],
    expect: ["Transfer-Encoding"],
  },
  {
    name: "Connection cannot remove Host, Content-Length, Origin or Sec-WebSocket-*",
    input: [
      h("Connection", "Host, Content-Length, Origin, Sec-WebSocket-Key"),
      h("Host", "a"),
      h("Content-Length", "5"),
      h("Origin", "https://a.test"),
      h("Sec-WebSocket-Key", "k"),
    ],
    expect: ["Host", "Content-Length", "Origin", "Sec-WebSocket-Key"],
  },
];

for (const { name, input, keep, expect } of removals) {
  Deno.test(`removeHopByHop: ${name}`, () => {
    const options = keep === undefined ? {} : { keep };
    assert.deepEqual(removeHopByHop(input, options).map((header) => header.name), expect);
  });
}

Deno.test("upgradeRequestHeaders replaces the hop headers and passes Sec-WebSocket-* through", () => {
  const input = [
    h("Host", "a"),
    h("Connection", "keep-alive, Upgrade"),
    h("Keep-Alive", "timeout=5"),
    h("upgrade", "WebSocket"),
    h("Proxy-Authorization", "Basic eA=="),
    h("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    h("Sec-WebSocket-Version", "13"),
    h("Sec-WebSocket-Protocol", "chat"),
    h("Sec-WebSocket-Extensions", "permessage-deflate"),
  ];
  assert.deepEqual(upgradeRequestHeaders(input), [
    h("Host", "a"),
    h("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    h("Sec-WebSocket-Version", "13"),
    h("Sec-WebSocket-Protocol", "chat"),
    h("Sec-WebSocket-Extensions", "permessage-deflate"),
    h("Upgrade", "websocket"),
    h("Connection", "Upgrade"),
  ]);
});

Deno.test("closeDelimitedHeaders keeps Transfer-Encoding and appends Connection: close", () => {
  const input = [
    h("Connection", "keep-alive"),
    h("Keep-Alive", "5"),
    h("Transfer-Encoding", "chunked"),
    h("Trailer", "X"),
  ];
  assert.deepEqual(closeDelimitedHeaders(input), [
    h("Transfer-Encoding", "chunked"),
    h("Connection", "close"),
  ]);
});
