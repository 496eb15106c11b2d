/** The ACME storage folder: names, what is refused, modes, and reading back what was written. */
import assert from "node:assert/strict";
import { AcmeStorage, certificateName, storageProblem } from "../../../lib/tls/acme/storage.ts";
import { inspectCertificate, storedCertificateProblem } from "../../../lib/tls/acme/certificate.ts";

const CERTS = new URL("../../fixtures/certs/", import.meta.url).pathname;
const read = (name: string) => Deno.readTextFileSync(`${CERTS}${name}`);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wsgate-storage-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("certificateName: the first domain; a hash of the list when there are several", () => {
  assert.equal(certificateName(["chat.example.com"]), "chat.example.com");
  const two = certificateName(["a.example.com", "b.example.com"]);
  assert.match(two, /^a\.example\.com\+[0-9a-f]{12}$/);
  assert.notEqual(two, certificateName(["a.example.com", "c.example.com"]));
  assert.equal(two, certificateName(["a.example.com", "b.example.com"]));
});

Deno.test("storageProblem: a folder to be made, or one of ours that only we can read", async () => {
  await withDir(async (dir) => {
    assert.equal(await storageProblem(`${dir}/acme`), undefined);
    assert.equal(await storageProblem(`${dir}/deeper/acme`), undefined);
    await Deno.mkdir(`${dir}/open`, { mode: 0o755 });
    await Deno.chmod(`${dir}/open`, 0o755);
    assert.equal(
      await storageProblem(`${dir}/open`),
      `${dir}/open is open to other users (mode 0755); it holds private keys: chmod 700 it`,
    );
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${dir}/link`);
    assert.equal(await storageProblem(`${dir}/link`), `${dir}/link is a symbolic link; name the real folder`);
    await Deno.writeTextFile(`${dir}/file`, "x");
    assert.equal(await storageProblem(`${dir}/file`), `${dir}/file is not a folder`);
    assert.equal(
      await storageProblem(`${dir}/file/acme`),
      `cannot create ${dir}/file/acme: ${dir}/file is not a folder`,
    );
  });
});

Deno.test("AcmeStorage: makes the folder 0700, writes 0600 files whole, reads them back", async () => {
  await withDir(async (dir) => {
    const storage = await AcmeStorage.open(`${dir}/acme`);
    assert.equal((await Deno.stat(`${dir}/acme`)).mode! & 0o777, 0o700);
    assert.equal(await storage.readAccountKey(), undefined);
    await storage.writeAccountKey("account key");
    assert.equal(await storage.readAccountKey(), "account key");
    const domains = ["a.example.com"];
    assert.equal(await storage.readCertificate(domains), undefined);
    assert.equal(await storage.certificateChanged(domains), undefined);
    await storage.writeCertificate(domains, { cert: "chain", key: "key" });
    assert.deepEqual(await storage.readCertificate(domains), { cert: "chain", key: "key" });
    assert.equal(typeof await storage.certificateChanged(domains), "number");
    await storage.writeChallenge("tok", "tok.thumb");
    assert.equal(await storage.readChallenge("tok"), "tok.thumb");
    await storage.removeChallenge("tok");
    assert.equal(await storage.readChallenge("tok"), undefined);
    const names = [];
    for await (const entry of Deno.readDir(`${dir}/acme`)) {
      names.push(entry.name);
      assert.equal((await Deno.stat(`${dir}/acme/${entry.name}`)).mode! & 0o777, 0o600, entry.name);
    }
    // No temp file left behind.
    assert.deepEqual(names.sort(), ["a.example.com.crt", "a.example.com.key", "account.key"]);
  });
});

Deno.test("AcmeStorage.open: refuses a folder others can read, and a symlink", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/open`);
    await Deno.chmod(`${dir}/open`, 0o750);
    await assert.rejects(AcmeStorage.open(`${dir}/open`), /open to other users \(mode 0750\)/);
    await Deno.mkdir(`${dir}/real`, { mode: 0o700 });
    await Deno.symlink(`${dir}/real`, `${dir}/link`);
    await assert.rejects(AcmeStorage.open(`${dir}/link`), /symbolic link/);
  });
});

Deno.test("storedCertificateProblem: covers the domains, matches its key, not expired", () => {
  const cert = read("localhost.pem");
  const key = read("localhost-key.pem");
  const info = inspectCertificate(cert);
  assert.deepEqual(info.names, ["localhost"]);
  assert.equal(new Date(info.notAfter).getUTCFullYear(), 2126);
  assert.equal(storedCertificateProblem(cert, key, ["localhost"], Date.now()), undefined);
  assert.equal(
    storedCertificateProblem(cert, read("backend-key.pem"), ["localhost"], Date.now()),
    "the private key does not belong to the certificate",
  );
  assert.equal(
    storedCertificateProblem(cert, key, ["localhost", "b.test"], Date.now()),
    "does not cover b.test",
  );
  assert.match(storedCertificateProblem(cert, key, ["localhost"], info.notAfter) ?? "", /^expired at 2126-/);
  assert.match(storedCertificateProblem("garbage", key, ["localhost"], Date.now()) ?? "", /^unreadable: /);
});
