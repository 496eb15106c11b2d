/** The client-certificate record: subject on one line (RFC 4514 escaping), fingerprint as hex. */
import assert from "node:assert/strict";
import {
  clientCertificate,
  formatFingerprint,
  formatSubject,
  NO_CLIENT_CERTIFICATE,
} from "../../lib/tls/client_cert.ts";

const FP = "96:66:75:9E:BD:78:57:E2:00:09:3F:28:55:BE:92:D4:CD:05:C0:E0:FB:52:82:2A:60:E4:0B:48:92:F2:B8:BB";

Deno.test("formatSubject: attributes in order, one line", () => {
  assert.equal(formatSubject({ CN: "alice", O: "Example" }), "CN=alice,O=Example");
  assert.equal(formatSubject({ C: "DE", OU: ["ops", "dev"], CN: "bob" }), "C=DE,OU=ops,OU=dev,CN=bob");
  assert.equal(formatSubject({}), "");
});

Deno.test("formatSubject: a value cannot pass for another attribute or break the line", () => {
  assert.equal(formatSubject({ CN: "alice,O=Admins" }), "CN=alice\\,O\\=Admins");
  assert.equal(formatSubject({ CN: 'a+b;c<d>e"f\\g' }), 'CN=a\\+b\\;c\\<d\\>e\\"f\\\\g');
  assert.equal(formatSubject({ CN: "x\r\nX-Admin: 1" }), "CN=x\\0D\\0AX-Admin: 1");
  assert.equal(formatSubject({ CN: "\u0000nul\u007f" }), "CN=\\00nul\\7F");
  assert.equal(formatSubject({ CN: "#lead", O: " space ", OU: "é ü" }), "CN=\\#lead,O=\\ space\\ ,OU=é ü");
});

Deno.test("formatSubject: odd attribute types and values are skipped, not printed", () => {
  assert.equal(formatSubject({ "C N": "x", "=": "y", "2.5.4.3": "ok", CN: 7, O: undefined }), "2.5.4.3=ok");
});

Deno.test("formatFingerprint: colon hex -> lower-case hex; anything else -> empty", () => {
  assert.equal(formatFingerprint(FP), FP.replaceAll(":", "").toLowerCase());
  assert.equal(formatFingerprint(""), "");
  assert.equal(formatFingerprint("AB:C"), "");
  assert.equal(formatFingerprint("zz:zz"), "");
});

Deno.test("clientCertificate: presented, verified or not; none presented", () => {
  assert.deepEqual(clientCertificate({ subject: { CN: "alice", O: "Example" }, fingerprint256: FP }, true), {
    subject: "CN=alice,O=Example",
    fingerprint: FP.replaceAll(":", "").toLowerCase(),
    verified: true,
  });
  assert.equal(clientCertificate({ subject: { CN: "m" }, fingerprint256: FP }, false).verified, false);
  // node:tls reports "no certificate" as {}: never verified, whatever the flag says.
  assert.deepEqual(clientCertificate({}, true), NO_CLIENT_CERTIFICATE);
  assert.deepEqual(clientCertificate(undefined, false), { subject: "", fingerprint: "", verified: false });
});
