/**
 * SHA-1 (RFC 3174) of a short one-byte-per-char string, as base64: the Sec-WebSocket-Accept of
 * every handshake. In plain code because node:crypto's createHash costs an object, a native call
 * per step and a Buffer on each runtime, for 60 bytes (bench/RESULTS.md); this reuses one state
 * and makes only the result string. SHA-1's weakness does not matter here: RFC 6455 uses it to
 * prove the server read the key, not for secrecy.
 */

const words = new Int32Array(80);
const digest = new Int32Array(5);
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** base64(SHA-1(text)); each char must be below 256 (one byte each, as in a head). */
export function sha1Base64(text: string): string {
  digest[0] = 0x67452301;
  digest[1] = 0xefcdab89;
  digest[2] = 0x98badcfe;
  digest[3] = 0x10325476;
  digest[4] = 0xc3d2e1f0;
  const length = text.length;
  // The message, a 0x80 byte, zeros, then the 64-bit bit length: whole 64-byte blocks.
  const blocks = ((length + 8) >>> 6) + 1;
  for (let block = 0; block < blocks; block++) {
    for (let i = 0; i < 16; i++) {
      let word = 0;
      for (let at = block * 64 + i * 4, end = at + 4; at < end; at++) {
        const byte = at < length ? text.charCodeAt(at) & 0xff : at === length ? 0x80 : 0;
        word = (word << 8) | byte;
      }
      words[i] = word;
    }
    if (block === blocks - 1) {
      words[14] = (length / 0x20000000) | 0; // the bit length's high word
      words[15] = length << 3;
    }
    compress();
  }
  return base64(digest);
}

function compress(): void {
  for (let i = 16; i < 80; i++) {
    const x = words[i - 3]! ^ words[i - 8]! ^ words[i - 14]! ^ words[i - 16]!;
    words[i] = (x << 1) | (x >>> 31);
  }
  let a = digest[0]!, b = digest[1]!, c = digest[2]!, d = digest[3]!, e = digest[4]!;
  for (let i = 0; i < 80; i++) {
    let f: number;
    if (i < 20) f = ((b & c) | (~b & d)) + 0x5a827999;
    else if (i < 40) f = (b ^ c ^ d) + 0x6ed9eba1;
    else if (i < 60) f = ((b & c) | (b & d) | (c & d)) + 0x8f1bbcdc;
    else f = (b ^ c ^ d) + 0xca62c1d6;
    const t = (((a << 5) | (a >>> 27)) + f + e + words[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  digest[0] = digest[0]! + a;
  digest[1] = digest[1]! + b;
  digest[2] = digest[2]! + c;
  digest[3] = digest[3]! + d;
  digest[4] = digest[4]! + e;
}

const codes = new Array<number>(28).fill(61); // the last stays "="

/** The 20 digest bytes (big-endian words) as base64: 27 chars and "=". */
function base64(state: Int32Array): string {
  for (let bit = 0, i = 0; bit < 160; bit += 6, i++) {
    const word = bit >>> 5, shift = bit & 31;
    // Six bits from `shift` on, the last ones spilling into the next word (or zeros past the end).
    const high = state[word]! << shift;
    const low = shift > 26 && word < 4 ? state[word + 1]! >>> (32 - shift) : 0;
    codes[i] = BASE64.charCodeAt(((high | low) >>> 26) & 63);
  }
  return String.fromCharCode.apply(null, codes);
}
