/**
 * Request smuggling (RFC 9112 §6.3 message body length, §11.2 request smuggling, §11.1 response
 * splitting), end to end: every ambiguous or malformed head, plain or an upgrade, gets 400, a
 * reject line and a close, reaches no backend and leaves open tunnels alone; a body's end is where
 * a strict parser sees it, so nothing after it becomes a second request; an upstream's ambiguous
 * response becomes a logged 502.
 */
import assert from "node:assert/strict";
import { denoEchoBackend, rawBackend } from "./_backends.ts";
import { openDenoWs } from "./_clients.ts";
import { eventually, startGateway, toYaml } from "./_harness.ts";
import { CRLF, text } from "./_wire.ts";
import { exchange, expectRefusal } from "./_security.ts";

const WS = [
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
];

function req(line: string, headers: string[], body = ""): string {
  return [line, ...headers].join(CRLF) + CRLF + CRLF + body;
}

/** Each case: §6.3 / §11 ingredient, request bytes. All must be answered 400 and closed. */
const REFUSED: [string, string][] = [
  // §6.3 ¶3: both framings present is the classic CL.TE / TE.CL smuggle.
  [
    "Content-Length with Transfer-Encoding",
    req("POST / HTTP/1.1", ["Host: h", "Content-Length: 5", "Transfer-Encoding: chunked"], "0\r\n\r\n"),
  ],
  [
    "Transfer-Encoding with Content-Length",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: chunked", "Content-Length: 5"], "0\r\n\r\n"),
  ],
  // §6.3 ¶5: duplicate or list-valued Content-Length.
  [
    "duplicate Content-Length, same value",
    req("POST / HTTP/1.1", ["Host: h", "Content-Length: 3", "Content-Length: 3"], "abc"),
  ],
  [
    "duplicate Content-Length, different values",
    req("POST / HTTP/1.1", ["Host: h", "Content-Length: 3", "Content-Length: 30"], "abc"),
  ],
  ["Content-Length list", req("POST / HTTP/1.1", ["Host: h", "Content-Length: 3, 3"], "abc")],
  ["Content-Length with a sign", req("POST / HTTP/1.1", ["Host: h", "Content-Length: +3"], "abc")],
  ["Content-Length negative", req("POST / HTTP/1.1", ["Host: h", "Content-Length: -1"])],
  ["Content-Length hex", req("POST / HTTP/1.1", ["Host: h", "Content-Length: 0x3"], "abc")],
  ["Content-Length with inner space", req("POST / HTTP/1.1", ["Host: h", "Content-Length: 1 2"], "abc")],
  ["Content-Length huge", req("POST / HTTP/1.1", ["Host: h", `Content-Length: ${"9".repeat(20)}`])],
  // §6.3 ¶4, §6.1: chunked must be the final (here: only) coding.
  [
    "Transfer-Encoding chunked not final",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: chunked, gzip"], "0\r\n\r\n"),
  ],
  [
    "Transfer-Encoding gzip, chunked",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: gzip, chunked"], "0\r\n\r\n"),
  ],
  [
    "Transfer-Encoding identity",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: identity"], "0\r\n\r\n"),
  ],
  [
    "Transfer-Encoding misspelt",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: xchunked"], "0\r\n\r\n"),
  ],
  [
    "Transfer-Encoding twice",
    req(
      "POST / HTTP/1.1",
      ["Host: h", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
      "0\r\n\r\n",
    ),
  ],
  [
    "Transfer-Encoding with vertical tab",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: \x0bchunked"], "0\r\n\r\n"),
  ],
  [
    "Transfer-Encoding in HTTP/1.0",
    req("POST / HTTP/1.0", ["Host: h", "Transfer-Encoding: chunked"], "0\r\n\r\n"),
  ],
  // §5.2 obs-fold, §5.1 no whitespace between name and colon.
  ["obs-fold", req("GET / HTTP/1.1", ["Host: h", "X-A: a", " b"])],
  [
    "obs-fold continuing Transfer-Encoding",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding:", " chunked"], "0\r\n\r\n"),
  ],
  ["space before colon", req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding : chunked"], "0\r\n\r\n")],
  ["tab before colon", req("POST / HTTP/1.1", ["Host: h", "Content-Length\t: 3"], "abc")],
  // §2.2 line endings.
  ["bare LF line ending", "GET / HTTP/1.1\nHost: h\r\n\r\n"],
  ["bare LF ending the head", "GET / HTTP/1.1\r\nHost: h\n\n"],
  ["bare CR in a value", req("GET / HTTP/1.1", ["Host: h", "X-A: a\rb"])],
  // §5.5 field values, §5.6.2 tokens.
  ["NUL in a value", req("GET / HTTP/1.1", ["Host: h", "X-A: a\x00b"])],
  ["NUL in a name", req("GET / HTTP/1.1", ["Host: h", "X\x00A: b"])],
  ["control byte in a value", req("GET / HTTP/1.1", ["Host: h", "X-A: a\x01b"])],
  ["DEL in a value", req("GET / HTTP/1.1", ["Host: h", "X-A: a\x7fb"])],
  ["invalid token character in a name", req("GET / HTTP/1.1", ["Host: h", "X(A): b"])],
  ["space inside a name", req("GET / HTTP/1.1", ["Host: h", "X A: b"])],
  ["non-ASCII name", req("GET / HTTP/1.1", ["Host: h", "X\xc4: b"])],
  ["empty name", req("GET / HTTP/1.1", ["Host: h", ": b"])],
  // §3.2 request targets.
  ["absolute-form with another Host", req("GET http://other.test/ HTTP/1.1", ["Host: h"])],
  ["asterisk-form with GET", req("GET * HTTP/1.1", ["Host: h"])],
  ["authority-form (CONNECT)", req("CONNECT h:443 HTTP/1.1", ["Host: h:443"])],
  ["fragment in the target", req("GET /a#b HTTP/1.1", ["Host: h"])],
  // §3.2 Host.
  ["missing Host", req("GET / HTTP/1.1", ["X-A: b"])],
  ["duplicate Host", req("GET / HTTP/1.1", ["Host: h", "Host: other"])],
  ["Host with a space", req("GET / HTTP/1.1", ["Host: a b"])],
  ["Host with userinfo", req("GET / HTTP/1.1", ["Host: u@h"])],
  // §3 request line, §2.3 versions.
  ["two spaces in the request line", req("GET  / HTTP/1.1", ["Host: h"])],
  ["tab in the request line", req("GET\t/ HTTP/1.1", ["Host: h"])],
  ["lower-case version", req("GET / http/1.1", ["Host: h"])],
  ["HTTP/2.0 in text", req("GET / HTTP/2.0", ["Host: h"])],
  ["HTTP/0.9 request", "GET /\r\n\r\n"],
  ["empty line before the request line", `\r\n${req("GET / HTTP/1.1", ["Host: h"])}`],
  // Upgrades (RFC 6455 §4.1 and §9.9 of RFC 9110: Upgrade needs HTTP/1.1; no body with it).
  ["HTTP/1.0 upgrade", req("GET / HTTP/1.0", ["Host: h", ...WS])],
  [
    "upgrade with a Content-Length body",
    req("GET / HTTP/1.1", ["Host: h", ...WS, "Content-Length: 5"], "hello"),
  ],
  [
    "upgrade with a chunked body",
    req("GET / HTTP/1.1", ["Host: h", ...WS, "Transfer-Encoding: chunked"], "0\r\n\r\n"),
  ],
  // §7.1 chunked body syntax, checked on the bytes that came with the head.
  [
    "chunk size in hex with 0x",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: chunked"], "0x3\r\nabc\r\n0\r\n\r\n"),
  ],
  [
    "chunk size with a bare LF",
    req("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: chunked"], "3\nabc\r\n0\r\n\r\n"),
  ],
];

Deno.test("smuggling: every ambiguous request is refused with 400, closed, logged, and reaches no backend", async (t) => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  // A tunnel open the whole time: refusals must never affect it.
  await using bystander = await openDenoWs(`ws://127.0.0.1:${gw.port}/bystander`);
  const reached = () => backend.requests.length;
  for (const [name, request] of REFUSED) {
    await t.step(name, async () => {
      await expectRefusal(gw, request, 400, { reached, bystander });
    });
  }
  // The gateway still serves: a well-formed request after all that.
  const ok = await exchange(gw.port, req("GET /after HTTP/1.1", ["Host: h"]));
  assert.equal(ok.response?.status, 200);
});

/** Bodies whose end a strict parser sees before the attacker's second request starts. */
const BODY_CASES: { name: string; request: string; method: string; body: string }[] = [
  {
    name: "TE.CL: a chunked body ends at its last chunk; the rest is the next request",
    request: req("POST /a HTTP/1.1", ["Host: h", "Transfer-Encoding: chunked"], "0\r\n\r\n") +
      req("GET /smuggled HTTP/1.1", ["Host: h", "Connection: close"]),
    method: "POST",
    body: "",
  },
  {
    name: "CL: a body ends at Content-Length; the pipelined request after it is routed on its own",
    request: req("POST /a HTTP/1.1", ["Host: h", "Content-Length: 3"], "abc") +
      req("GET /smuggled HTTP/1.1", ["Host: h", "Connection: close"]),
    method: "POST",
    body: "abc",
  },
  {
    name: "CL 0 on a GET: the request after it is routed on its own",
    request: req("GET /a HTTP/1.1", ["Host: h", "Content-Length: 0"]) +
      req("GET /smuggled HTTP/1.1", ["Host: h", "Connection: close"]),
    method: "GET",
    body: "",
  },
  {
    name: "chunk extensions and trailers are part of the body, not a new head",
    request: req(
      "POST /a HTTP/1.1",
      ["Host: h", "Transfer-Encoding: chunked"],
      "3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    ) +
      req("GET /smuggled HTTP/1.1", ["Host: h", "Connection: close"]),
    method: "POST",
    body: "abc",
  },
];

Deno.test("smuggling: a body ends where a strict parser says; what follows is a request of its own, rebuilt and routed", async (t) => {
  await using backend = await denoEchoBackend();
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  for (const { name, request, method, body } of BODY_CASES) {
    await t.step(name, async () => {
      const before = backend.requests.length;
      const outcome = await exchange(gw.port, request);
      assert.equal(outcome.response?.status, 200);
      assert.equal(text(outcome.response.body), `${method} /a ${body.length}\n${body}`);
      // Keep-alive: the second request is answered after the first, on its own upstream request.
      const answers = text(outcome.raw);
      assert.ok(answers.endsWith("\nGET /smuggled 0\n"), answers);
      assert.equal(answers.split("HTTP/1.1 200 ").length, 3, "two answers, in order");
      const seen = backend.requests.slice(before);
      assert.deepEqual(seen.map((r) => [r.method, r.url, text(r.body ?? new Uint8Array())]), [[
        method,
        "/a",
        body,
      ], [
        "GET",
        "/smuggled",
        "",
      ]]);
    });
  }
});

/** Upstream answers a parser could read two ways (response splitting and smuggling, §11.1). */
const BAD_RESPONSES: [string, string][] = [
  [
    "Content-Length with Transfer-Encoding",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
  ],
  ["duplicate Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"],
  ["Transfer-Encoding not chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"],
  ["obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"],
  ["bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"],
  ["NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n"],
  ["space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"],
  ["bad status line", "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n"],
  ["HTTP/0.9-style answer without a status line", "hello\r\n\r\n"],
  ["101 with a bare CR", "HTTP/1.1 101 Switching\rProtocols\r\nUpgrade: websocket\r\n\r\n"],
];

Deno.test("smuggling: a malformed upstream response becomes 502, logged", async (t) => {
  let answer = "";
  await using backend = rawBackend(async (peer) => {
    await peer.write(answer);
  });
  // max_fails: 0 keeps the one backend in rotation after each bad answer.
  await using gw = await startGateway({
    config: toYaml({
      servers: [{ listen: ["127.0.0.1:0"], routes: [{ path: "/", upstream: "app" }] }],
      upstreams: { app: { servers: [{ address: backend.address, max_fails: 0 }] } },
    }),
  });
  for (const [i, [name, response]] of BAD_RESPONSES.entries()) {
    await t.step(name, async () => {
      answer = response;
      const outcome = await exchange(gw.port, req("GET /x HTTP/1.1", ["Host: h", ...WS]));
      assert.equal(outcome.response?.status, 502, text(outcome.raw.slice(0, 100)));
      assert.equal(outcome.closed, true);
      await eventually(() => gw.records("upstream_failed").length === i + 1, 5_000, "upstream_failed logged");
      assert.match(gw.records("upstream_failed")[i]?.fields.reason ?? "", /malformed response head/);
    });
  }
  const rejects = () => gw.records("reject").filter((r) => r.fields.status === "502").length;
  await eventually(() => rejects() === BAD_RESPONSES.length, 5_000, "one reject line per answer");
});

/** Trailer fields a recipient that merges trailers into the head would act on (RFC 9110 §6.5.1). */
const FORBIDDEN_TRAILERS = [
  "Content-Length: 44",
  "Transfer-Encoding: chunked",
  "Host: admin.internal",
  "Connection: keep-alive",
  "X-Forwarded-For: 10.0.0.1",
  "Authorization: Bearer forged",
];
const trailerSection = (fields: string[]) => fields.map((field) => field + CRLF).join("") + CRLF;
const CHUNKED_WITH_TRAILERS = `5\r\nhello\r\n0\r\n${trailerSection(["X-Sum: 1", ...FORBIDDEN_TRAILERS])}`;
const CHUNKED_FILTERED = `5\r\nhello\r\n0\r\n${trailerSection(["X-Sum: 1"])}`;

Deno.test("smuggling: framing, routing and hop-by-hop trailers are dropped from request bodies", async () => {
  const received: string[] = [];
  await using backend = rawBackend(async (peer) => {
    // The body ends at the empty line after the trailers; "\r\n\r\n" occurs nowhere before it.
    while (!text(peer.reader.buffered).includes("\r\n\r\n")) {
      if (!await peer.reader.fill(5_000)) throw new Error("the body did not end");
    }
    received.push(text(peer.reader.buffered));
    await peer.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  const request = req(
    "POST /upload HTTP/1.1",
    ["Host: h", "Transfer-Encoding: chunked"],
    CHUNKED_WITH_TRAILERS,
  );
  const outcome = await exchange(gw.port, request);
  assert.equal(outcome.response?.status, 200);
  assert.equal(text(outcome.response.body), "ok");
  assert.deepEqual(received, [CHUNKED_FILTERED]);
  assert.match(backend.heads[0] ?? "", /^transfer-encoding: chunked\r$/im, "still chunked");
});

Deno.test("smuggling: framing, routing and hop-by-hop trailers are dropped from response bodies", async () => {
  await using backend = rawBackend(async (peer) => {
    await peer.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNKED_WITH_TRAILERS}`);
    await peer.closing; // the body's framing, not a close, ends the answer
  });
  await using gw = await startGateway({ args: ["--listen", "127.0.0.1:0", "--upstream", backend.address] });
  const outcome = await exchange(gw.port, req("GET /download HTTP/1.1", ["Host: h", "Connection: close"]));
  assert.equal(outcome.response?.status, 200);
  const raw = text(outcome.raw);
  assert.ok(raw.endsWith(`\r\n\r\n${CHUNKED_FILTERED}`), JSON.stringify(raw));
  assert.equal(outcome.closed, true);
});
