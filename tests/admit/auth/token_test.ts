import assert from "node:assert/strict";
import {
  extractToken,
  redactPath,
  redactText,
  replaceHeaders,
  stripTokens,
} from "../../../lib/admit/auth/token.ts";
import { parseTokenSource, type TokenSource } from "../../../lib/config/auth.ts";
import type { RequestHead } from "../../../lib/http/head.ts";

const K8S = "base64url.bearer.authorization.k8s.io.";
const sources = [
  "header:Authorization",
  "query:access_token",
  "cookie:token",
  `protocol:${K8S}`,
  "protocol:bearer.",
]
  .map((s) => parseTokenSource(s) as TokenSource);

function head(path: string, ...headers: [string, string][]): RequestHead {
  return {
    method: "GET",
    target: path,
    version: "HTTP/1.1",
    path,
    headers: headers.map(([name, value]) => ({ name, value })),
  };
}

const STRIP = { strip: true };
const b64url = (text: string) => btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

Deno.test("extractToken: each source, in order", () => {
  assert.deepEqual(extractToken(head("/", ["authorization", "Bearer a.b.c"]), sources, STRIP), {
    token: "a.b.c",
    source: "header:Authorization",
  });
  assert.deepEqual(extractToken(head("/", ["Authorization", "bearer   a.b.c "]), sources, STRIP), {
    token: "a.b.c",
    source: "header:Authorization",
  });
  assert.deepEqual(extractToken(head("/x?y=1&access_token=a%2Eb.c"), sources, STRIP), {
    token: "a.b.c",
    source: "query:access_token",
  });
  assert.deepEqual(extractToken(head("/", ["Cookie", "a=1; token=t.o.k; b=2"]), sources, STRIP), {
    token: "t.o.k",
    source: "cookie:token",
  });
  assert.deepEqual(
    extractToken(head("/", ["Sec-WebSocket-Protocol", `chat, ${K8S}${b64url("x.y.z")}`]), sources, STRIP),
    {
      token: "x.y.z",
      source: `protocol:${K8S}`,
    },
  );
  assert.deepEqual(extractToken(head("/", ["Sec-WebSocket-Protocol", "bearer.p.q.r"]), sources, STRIP), {
    token: "p.q.r",
    source: "protocol:bearer.",
  });
  // The header comes first in token_from: it wins over the query.
  assert.deepEqual(extractToken(head("/?access_token=q", ["Authorization", "Bearer h"]), sources, STRIP), {
    token: "h",
    source: "header:Authorization",
  });
});

Deno.test("extractToken: missing, another scheme, empty values, bad base64url", () => {
  const missing = { missing: true };
  assert.deepEqual(extractToken(head("/"), sources, STRIP), missing);
  assert.deepEqual(extractToken(head("/", ["Authorization", "Basic dTpw"]), sources, STRIP), missing);
  assert.deepEqual(extractToken(head("/", ["Authorization", "Bearer"]), sources, STRIP), missing);
  assert.deepEqual(extractToken(head("/?access_token=&access_token"), sources, STRIP), missing);
  assert.deepEqual(extractToken(head("/", ["Cookie", "token="]), sources, STRIP), missing);
  assert.deepEqual(extractToken(head("/", ["Sec-WebSocket-Protocol", `${K8S}!!!`]), sources, STRIP), missing);
  assert.deepEqual(
    extractToken(head("/", ["Sec-WebSocket-Protocol", `${K8S}${b64url("\xff\xfe")}`]), sources, STRIP),
    missing,
  );
});

Deno.test("extractToken: two tokens in one source are refused, however they are written", () => {
  const cases: RequestHead[] = [
    head("/", ["Authorization", "Bearer a"], ["Authorization", "Bearer b"]),
    head("/?access_token=a&access_token=b"),
    head("/?access_token=a&access%5Ftoken=b"),
    head("/?access_token=a&%61ccess_token=b"),
    head("/", ["Cookie", "token=a"], ["Cookie", "token=b"]),
    head("/", ["Cookie", "token=a; token=b"]),
    head("/", ["Sec-WebSocket-Protocol", `${K8S}${b64url("a")}, ${K8S}${b64url("b")}`]),
  ];
  for (const request of cases) {
    assert.ok("ambiguous" in extractToken(request, sources, STRIP), JSON.stringify(request));
  }
});

Deno.test("stripTokens: the query re-serialised without the parameter, the subprotocol list without the entry", () => {
  const request = head(
    "/room?a=1&access_token=t&b=%2F&access%5Ftoken=u&c",
    ["Host", "x"],
    ["Sec-WebSocket-Protocol", `chat.v1, ${K8S}${b64url("t")}`],
    ["sec-websocket-protocol", "bearer.t, v2"],
  );
  const stripped = stripTokens(request, sources);
  assert.equal(stripped.path, "/room?a=1&b=%2F&c");
  assert.deepEqual(stripped.headers, [
    { name: "Host", value: "x" },
    { name: "Sec-WebSocket-Protocol", value: "chat.v1, v2" },
  ]);
  assert.equal(
    request.path,
    "/room?a=1&access_token=t&b=%2F&access%5Ftoken=u&c",
    "the original is untouched",
  );
  // Nothing left: no "?", no Sec-WebSocket-Protocol at all.
  const bare = stripTokens(head("/p?access_token=t", ["Sec-WebSocket-Protocol", "bearer.t"]), sources);
  assert.equal(bare.path, "/p");
  assert.deepEqual(bare.headers, []);
  // Nothing to strip: the same object.
  const plain = head("/p?q=1", ["Sec-WebSocket-Protocol", "chat"]);
  assert.equal(stripTokens(plain, sources), plain);
});

Deno.test("redactPath: every occurrence of the named parameters, however encoded", () => {
  const names = new Set(["access_token"]);
  assert.equal(
    redactPath("/a?x=1&access_token=eyJ.x.y&access%5Ftoken=z&access_token", names),
    "/a?x=1&access_token=REDACTED&access%5Ftoken=REDACTED&access_token=REDACTED",
  );
  assert.equal(redactPath("/a?x=1", names), "/a?x=1");
  assert.equal(redactPath("/access_token=x", names), "/access_token=x");
  assert.equal(redactPath("/a?access_token=x", new Set()), "/a?access_token=x");
});

Deno.test("replaceHeaders: the client's values of the named headers go, whatever their case", () => {
  const headers = [
    { name: "x-user-id", value: "forged" },
    { name: "X-USER-ID", value: "forged2" },
    { name: "Host", value: "h" },
    { name: "X-Roles", value: "admin" },
  ];
  assert.deepEqual(
    replaceHeaders(headers, ["X-User-Id", "X-Roles"], [{ name: "X-User-Id", value: "alice" }]),
    [
      { name: "Host", value: "h" },
      { name: "X-User-Id", value: "alice" },
    ],
  );
  assert.equal(replaceHeaders(headers, [], []), headers);
});

Deno.test("extractToken: a different token in a source that reaches the backend is refused", () => {
  // Header first, a forged cookie after it: the backend could read the cookie.
  assert.deepEqual(
    extractToken(head("/", ["Authorization", "Bearer good"], ["Cookie", "token=evil"]), sources, STRIP),
    {
      ambiguous: "different tokens in header:Authorization and cookie:token",
    },
  );
  // The same token twice is fine.
  assert.deepEqual(
    extractToken(head("/", ["Authorization", "Bearer same"], ["Cookie", "token=same"]), sources, STRIP),
    {
      token: "same",
      source: "header:Authorization",
    },
  );
  // Another token in the query is stripped anyway, unless strip_token is off.
  const query = head("/?access_token=other", ["Authorization", "Bearer good"]);
  assert.deepEqual(extractToken(query, sources, STRIP), { token: "good", source: "header:Authorization" });
  assert.deepEqual(extractToken(query, sources, { strip: false }), {
    ambiguous: "different tokens in header:Authorization and query:access_token",
  });
});

Deno.test("redactText: a quoted request line or target loses the token values", () => {
  const names = new Set(["access_token", "a.b"]);
  assert.equal(
    redactText('Invalid request target: byte 0x7f in "/x?access_token=eyJhbGc.eyJzdWIi.sig&y=1"', names),
    'Invalid request target: byte 0x7f in "/x?access_token=REDACTED&y=1"',
  );
  assert.equal(redactText('"/?a.b=1&axb=2"', names), '"/?a.b=REDACTED&axb=2"');
  assert.equal(redactText("no query here access_token=x", names), "no query here access_token=x");
});

// Spellings a backend reads as a token but a strict reading would miss (DESIGN §3b: no unchecked
// token rides along to the backend).
const queryFirst = ["query:access_token", "header:Authorization"].map((s) =>
  parseTokenSource(s) as TokenSource
);

Deno.test("extractToken: the Bearer scheme in any case, after any run of SP/HTAB", () => {
  for (
    const value of ["Bearer\tt.o.k", "bearer t.o.k", "BEARER t.o.k", "Bearer    t.o.k", "Bearer \t t.o.k \t"]
  ) {
    assert.deepEqual(extractToken(head("/", ["Authorization", value]), sources, STRIP), {
      token: "t.o.k",
      source: "header:Authorization",
    }, JSON.stringify(value));
  }
  // Another scheme whose name only starts with "bearer" is not a token for this source.
  assert.deepEqual(extractToken(head("/", ["Authorization", "Bearerish t"]), sources, STRIP), {
    missing: true,
  });
});

Deno.test("extractToken: any Authorization field naming Bearer beside a valid query token is ambiguous", () => {
  const spellings = [
    "Bearer\tFORGED",
    "bearer FORGED",
    "BEARER FORGED",
    "Bearer   FORGED",
    "Bearer\xa0FORGED",
    "Bearer FORGED extra",
    "Bearer GOOD, Bearer FORGED",
  ];
  for (const value of spellings) {
    const request = head("/?access_token=GOOD", ["Authorization", value]);
    assert.deepEqual(extractToken(request, queryFirst, STRIP), {
      ambiguous: "different tokens in query:access_token and header:Authorization",
    }, JSON.stringify(value));
  }
  // Two fields, however the second is spelled, are two tokens in one source.
  const two = head("/", ["Authorization", "Bearer a"], ["Authorization", "bearer\tb"]);
  assert.ok("ambiguous" in extractToken(two, sources, STRIP));
});

Deno.test("extractToken: ';' separates query parameters too", () => {
  assert.deepEqual(extractToken(head("/x?a=1;access_token=t.o.k"), sources, STRIP), {
    token: "t.o.k",
    source: "query:access_token",
  });
  assert.ok("ambiguous" in extractToken(head("/?access_token=a;access_token=b"), sources, STRIP));
  // A forged token after ';' beside a valid header: stripped, or refused without strip_token.
  const forged = head("/?a=1;access_token=FORGED", ["Authorization", "Bearer GOOD"]);
  assert.deepEqual(extractToken(forged, sources, STRIP), { token: "GOOD", source: "header:Authorization" });
  assert.deepEqual(extractToken(forged, sources, { strip: false }), {
    ambiguous: "different tokens in header:Authorization and query:access_token",
  });
});

Deno.test("extractToken: query parameter names match whatever their case, or as PHP mangles them", () => {
  assert.deepEqual(extractToken(head("/?ACCESS_TOKEN=t.o.k"), sources, STRIP), {
    token: "t.o.k",
    source: "query:access_token",
  });
  for (
    const path of ["/?access_token=GOOD&ACCESS_TOKEN=FORGED", "/?access_token=GOOD&%41ccess_Token=FORGED"]
  ) {
    assert.ok("ambiguous" in extractToken(head(path), sources, STRIP), path);
  }
  for (
    const name of ["Access_Token", "access.token", "access%20token", "%20%20access[token", "acceſſ_token"]
  ) {
    const forged = head(`/?${name}=FORGED`, ["Authorization", "Bearer GOOD"]);
    assert.deepEqual(extractToken(forged, sources, { strip: false }), {
      ambiguous: "different tokens in header:Authorization and query:access_token",
    }, name);
  }
  // A name that only resembles it is another parameter.
  assert.deepEqual(extractToken(head("/?access_tokens=t&access-token=u"), sources, STRIP), { missing: true });
});

Deno.test("stripTokens: parameters after ';' and in any case go; the rest is kept as written", () => {
  const strip = (path: string) => stripTokens(head(path), sources).path;
  assert.equal(strip("/r?a=1;access_token=FORGED"), "/r?a=1");
  assert.equal(strip("/r?a=1;access_token=t&b=2;c=3"), "/r?a=1&b=2;c=3");
  assert.equal(strip("/r?a=1&access_token=t;b=2"), "/r?a=1&b=2");
  assert.equal(strip("/r?access_token=t;a=1;b=2"), "/r?a=1;b=2");
  assert.equal(strip("/r?access_token=GOOD&ACCESS_TOKEN=FORGED&Access%5FToken=x&access.token=y"), "/r");
  assert.equal(strip("/r?a=1;b=2&c"), "/r?a=1;b=2&c");
  const plain = head("/r?a=1;b=2");
  assert.equal(stripTokens(plain, sources), plain);
});

Deno.test("redactPath and redactText: parameters after ';' and in any case are redacted", () => {
  const names = new Set(["access_token"]);
  assert.equal(redactPath("/a?x=1;access_token=SECRET;y", names), "/a?x=1;access_token=REDACTED;y");
  assert.equal(
    redactPath("/a?access_token=A&ACCESS_TOKEN=B;Access%5FToken=C", names),
    "/a?access_token=REDACTED&ACCESS_TOKEN=REDACTED;Access%5FToken=REDACTED",
  );
  assert.equal(
    redactText('byte 0x7f in "/x?a=1;ACCESS_TOKEN=SECRET&access%5Ftoken=S2;y=1"', names),
    'byte 0x7f in "/x?a=1;ACCESS_TOKEN=REDACTED&access%5Ftoken=REDACTED;y=1"',
  );
});
