import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { sha1Base64 } from "../../lib/http/sha1.ts";

Deno.test("sha1Base64: RFC 6455's example key gives its accept value", () => {
  assert.equal(
    sha1Base64("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
  );
});

Deno.test("sha1Base64: RFC 3174's test vectors", () => {
  const hex = (text: string) => Buffer.from(sha1Base64(text), "base64").toString("hex");
  assert.equal(hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert.equal(
    hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
  );
  assert.equal(hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
});

Deno.test("sha1Base64: equals node:crypto for every length 0-300 and every byte value, across block edges", () => {
  for (let length = 0; length <= 300; length++) {
    let text = "";
    for (let i = 0; i < length; i++) text += String.fromCharCode((i * 131 + length * 7) & 0xff);
    const want = createHash("sha1").update(Buffer.from(text, "latin1")).digest("base64");
    assert.equal(sha1Base64(text), want, `length ${length}`);
  }
});
