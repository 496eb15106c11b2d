import assert from "node:assert/strict";
import type { Header } from "../../lib/http/headers.ts";
import {
  getHeader,
  getHeaderValues,
  getTokenList,
  hasToken,
  trimOws,
  withoutHeaders,
  withoutUnderscoreNames,
} from "../../lib/http/headers.ts";

const headers: Header[] = [
  { name: "Host", value: "example.com" },
  { name: "Connection", value: "keep-alive, Upgrade" },
  { name: "x-list", value: " a ,\tB,, " },
  { name: "X-List", value: "c" },
  { name: "Sec-WebSocket-Protocol", value: "Chat, superchat" },
];

Deno.test("getHeader returns the first match, case-insensitively", () => {
  assert.equal(getHeader(headers, "HOST"), "example.com");
  assert.equal(getHeader(headers, "x-LIST"), " a ,\tB,, ");
  assert.equal(getHeader(headers, "missing"), undefined);
});

Deno.test("getHeader folds only the letters A-Z: same-length names that differ elsewhere do not match", () => {
  const odd: Header[] = [
    { name: "X-@[", value: "at" }, // '@' and '[' are 0x20 below '`' and '{'
    { name: "Sec-WebSocket-Key1", value: "digit" },
    { name: "UPGRADE", value: "websocket" },
  ];
  assert.equal(getHeader(odd, "x-`{"), undefined);
  assert.equal(getHeader(odd, "x-@["), "at");
  assert.equal(getHeader(odd, "sec-websocket-key"), undefined, "a longer name is another name");
  assert.equal(getHeader(odd, "sec-websocket-key1"), "digit");
  assert.equal(getHeader(odd, "upgrade"), "websocket");
  assert.equal(getHeader(odd, "upgradf"), undefined);
});

Deno.test("getHeader: tokens 0x20 apart outside A-Z stay apart; a non-ASCII name matches no ASCII one", () => {
  // "^" and "~", "_" and DEL differ by 0x20 as letters do: a fold of every char by `| 0x20`
  // would read a client's "X-A^" as the "x-a~" a check looks for.
  const tokens: Header[] = [{ name: "X-A^", value: "caret" }, { name: "X_B", value: "underscore" }];
  assert.equal(getHeader(tokens, "x-a~"), undefined);
  assert.equal(getHeader(tokens, "X-A^"), "caret");
  assert.equal(getHeader(tokens, "x\x7fb"), undefined);
  assert.equal(getHeader(tokens, "x_b"), "underscore");
  // U+212A KELVIN SIGN lowercases to "k": toLowerCase() matched it with "key".
  assert.equal(getHeader([{ name: "\u212Aey", value: "kelvin" }], "key"), undefined);
});

Deno.test("getHeaderValues returns every field of that name in order", () => {
  assert.deepEqual(getHeaderValues(headers, "X-List"), [" a ,\tB,, ", "c"]);
  assert.deepEqual(getHeaderValues(headers, "missing"), []);
});

Deno.test("getTokenList splits, trims and keeps case", () => {
  assert.deepEqual(getTokenList(headers, "x-list"), ["a", "B", "c"]);
  assert.deepEqual(getTokenList(headers, "sec-websocket-protocol"), ["Chat", "superchat"]);
});

const tokenCases: { name: string; header: string; token: string; expect: boolean }[] = [
  { name: "Firefox list", header: "connection", token: "upgrade", expect: true },
  { name: "uppercase token", header: "Connection", token: "KEEP-ALIVE", expect: true },
  { name: "across fields, OWS", header: "x-list", token: "c", expect: true },
  { name: "tab-trimmed item", header: "x-list", token: "b", expect: true },
  { name: "substring is no match", header: "connection", token: "upgr", expect: false },
  { name: "empty items are not tokens", header: "x-list", token: "", expect: false },
  { name: "missing header", header: "upgrade", token: "websocket", expect: false },
  { name: "last item, then OWS", header: "connection", token: "UPGRADE", expect: true },
  {
    name: "an item with a space inside is one item",
    header: "sec-websocket-protocol",
    token: "chat",
    expect: true,
  },
];

Deno.test("hasToken reads items as getTokenList does, and folds only A-Z", () => {
  const lists: Header[] = [
    { name: "Connection", value: ",, keep-alive ,\tUpgrade\t," },
    { name: "Upgrade", value: "websocket/13 , h2c" },
    { name: "X-Odd", value: "web socket, \u212Aeep, a^" },
  ];
  for (
    const [header, token] of [["connection", "upgrade"], ["connection", "keep-alive"], ["upgrade", "h2c"]]
  ) {
    assert.ok(hasToken(lists, header!, token!), `${header}: ${token}`);
    assert.ok(getTokenList(lists, header!).some((item) => item.toLowerCase() === token));
  }
  assert.equal(hasToken(lists, "upgrade", "websocket"), false, "a protocol version is part of the item");
  assert.equal(hasToken(lists, "x-odd", "web"), false);
  assert.equal(hasToken(lists, "x-odd", "web socket"), true);
  // U+212A KELVIN SIGN lowercases to "k" (toLowerCase), and "^" is "~" less 0x20: neither is a letter.
  assert.equal(hasToken(lists, "x-odd", "keep"), false);
  assert.equal(hasToken(lists, "x-odd", "a~"), false);
  assert.equal(hasToken(lists, "x-odd", "A^"), true);
});

for (const { name, header, token, expect } of tokenCases) {
  Deno.test(`hasToken: ${name}`, () => assert.equal(hasToken(headers, header, token), expect));
}

Deno.test("withoutHeaders drops the named fields in any case and keeps the rest in order", () => {
  assert.deepEqual(
    withoutHeaders(headers, new Set(["x-list", "connection"])).map((h) => h.name),
    ["Host", "Sec-WebSocket-Protocol"],
  );
  assert.equal(withoutHeaders(headers, []).length, headers.length);
});

Deno.test("trimOws strips only SP and HTAB", () => {
  assert.equal(trimOws(" \t a b \t "), "a b");
  assert.equal(trimOws("\xa0x\xa0"), "\xa0x\xa0");
  assert.equal(trimOws("  "), "");
});

Deno.test("withoutUnderscoreNames drops CGI look-alikes of any field and keeps the rest in order", () => {
  const fields: Header[] = [
    { name: "Host", value: "h" },
    { name: "X_Forwarded_For", value: "6.6.6.6" },
    { name: "X-Real_IP", value: "6.6.6.6" },
    { name: "x-forwarded-proto", value: "https" },
    { name: "_", value: "x" },
    { name: "Cookie", value: "a_b=c" },
  ];
  assert.deepEqual(withoutUnderscoreNames(fields).map((h) => h.name), [
    "Host",
    "x-forwarded-proto",
    "Cookie",
  ]);
  const clean = fields.filter((h) => !h.name.includes("_"));
  assert.equal(withoutUnderscoreNames(clean), clean, "nothing to drop: the same list, not a copy");
});
