/** A CertificateKeeper with a stored certificate and a CA that cannot be reached: it serves the
 * stored one at once, and keeps serving it when renewal fails. */
import assert from "node:assert/strict";
import { CertificateKeeper } from "../../../lib/tls/acme/certificate_keeper.ts";
import { setUpAcmeHttp } from "../../../lib/tls/acme/client.ts";
import { AcmeStorage } from "../../../lib/tls/acme/storage.ts";
import type { Fields, Level, Logger } from "../../../lib/observe/log.ts";

const CERTS = new URL("../../fixtures/certs/", import.meta.url).pathname;
const cert = Deno.readTextFileSync(`${CERTS}localhost.pem`);
const key = Deno.readTextFileSync(`${CERTS}localhost-key.pem`);
const YEAR = 365 * 86_400_000;

function recordingLogger() {
  const records: { level: Level; event: string; fields: Fields }[] = [];
  const logger: Logger = {
    log: (level, event, fields = {}) => records.push({ level, event, fields }),
    flush() {},
  };
  return { logger, records };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("CertificateKeeper: serves the stored certificate, keeps it when renewal fails, says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-keeper-" });
  setUpAcmeHttp([]);
  const { logger, records } = recordingLogger();
  const served: string[] = [];
  try {
    const storage = await AcmeStorage.open(`${dir}/acme`);
    await storage.writeCertificate(["localhost"], { cert, key });
    const keeper = new CertificateKeeper(
      {
        domains: ["localhost"],
        directory: "https://127.0.0.1:1/dir",
        storage: `${dir}/acme`,
        // Longer than the fixture's lifetime: due at once.
        renew_before: 200 * YEAR,
      },
      {
        storage,
        logger,
        role: "order",
        listening: Promise.resolve(),
        onCertificate: (certificate) => served.push(certificate.cert),
        present: () => Promise.resolve(),
        remove: () => Promise.resolve(),
        random: () => 0.5,
      },
    );
    await keeper.start();
    assert.deepEqual(served, [cert]);
    assert.equal(records[0]!.event, "acme_loaded");
    assert.match(String(records[0]!.fields.expires), /^2126-/);
    await until(() => records.some((r) => r.event === "acme_failed"), "acme_failed");
    keeper.stop();
    const failed = records.find((r) => r.event === "acme_failed")!;
    assert.equal(failed.level, "error");
    assert.match(String(failed.fields.reason), /https:\/\/127\.0\.0\.1:1\/dir: .*ECONNREFUSED/);
    assert.equal(failed.fields.failures, 1);
    assert.equal(failed.fields.retry_in_s, 120);
    assert.match(String(failed.fields.serving), /^certificate valid until 2126-/);
    // Still the stored one, and nothing new was written.
    assert.equal(keeper.served?.cert, cert);
    assert.deepEqual(served, [cert]);
    assert.deepEqual(await storage.readCertificate(["localhost"]), { cert, key });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
