import assert from "node:assert/strict";
import { certificateFor } from "../../lib/tls/sni.ts";

Deno.test("certificateFor: the first certificate whose names match; none = the listener's default", () => {
  const certs = [
    { id: "default" },
    { id: "chat", serverNames: ["chat.example.com"] },
    { id: "wild", serverNames: ["*.example.com"] },
  ];
  assert.equal(certificateFor(certs, "chat.example.com")?.id, "chat");
  assert.equal(certificateFor(certs, "CHAT.example.com")?.id, "chat");
  assert.equal(certificateFor(certs, "api.example.com")?.id, "wild");
  assert.equal(certificateFor(certs, "example.com"), undefined);
  assert.equal(certificateFor(certs, "other.test"), undefined);
});
