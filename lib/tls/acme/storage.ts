/**
 * The ACME storage folder: the account key, each certificate with its key, and (for worker
 * processes, which answer HTTP-01 too) the pending challenges. The folder is 0700 and owned by
 * the gateway's user, every file 0600, written whole (temp file + rename) so a reader never sees
 * half a key. A folder that others can read, a symlink, or another user's folder is refused:
 * private keys would be exposed, or written where someone else decides.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  access,
  chmod,
  constants,
  lstat,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";

const FOLDER_MODE = 0o700;
const FILE_MODE = 0o600;

/** The file names of one certificate: its first domain (validated DNS characters only), plus a
 * hash of the whole list when there are several, so another list never reuses the files. */
export function certificateName(domains: readonly string[]): string {
  if (domains.length === 1) return domains[0]!;
  const hash = createHash("sha256").update(domains.join(",")).digest("hex").slice(0, 12);
  return `${domains[0]}+${hash}`;
}

export interface StoredCertificate {
  cert: string;
  key: string;
}

/** Why `dir` cannot be the storage folder, or undefined. A folder not made yet is fine when it
 * can be (its nearest existing parent is a writable folder). For `wsgate check` and start. */
export async function storageProblem(dir: string): Promise<string | undefined> {
  let info;
  try {
    info = await lstat(dir);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") return `cannot read ${dir}: ${reason(err)}`;
    return await creatableProblem(dir);
  }
  if (info.isSymbolicLink()) return `${dir} is a symbolic link; name the real folder`;
  if (!info.isDirectory()) return `${dir} is not a folder`;
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    return `${dir} belongs to user ${info.uid}, not to the gateway's user ${uid}`;
  }
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    return `${dir} is open to other users (mode ${mode}); it holds private keys: chmod 700 it`;
  }
  try {
    await access(dir, constants.W_OK);
  } catch {
    return `${dir} is not writable`;
  }
  return undefined;
}

async function creatableProblem(dir: string): Promise<string | undefined> {
  let parent = dirname(dir);
  while (true) {
    try {
      const info = await stat(parent);
      if (!info.isDirectory()) return `cannot create ${dir}: ${parent} is not a folder`;
      await access(parent, constants.W_OK);
      return undefined;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "ENOENT" || parent === dirname(parent)) {
        return `cannot create ${dir}: ${parent} is not writable`;
      }
      parent = dirname(parent);
    }
  }
}

export class AcmeStorage {
  private constructor(readonly dir: string) {}

  /** Checks the folder (see storageProblem), creating it 0700 when missing; throws the problem. */
  static async open(dir: string): Promise<AcmeStorage> {
    const before = await storageProblem(dir);
    if (before) throw new Error(before);
    await mkdir(dir, { recursive: true, mode: FOLDER_MODE });
    // mkdir's mode passes through the umask, and a folder that existed keeps its own.
    await chmod(dir, FOLDER_MODE);
    const after = await storageProblem(dir);
    if (after) throw new Error(after);
    return new AcmeStorage(dir);
  }

  readAccountKey(): Promise<string | undefined> {
    return this.#read("account.key");
  }

  writeAccountKey(pem: string): Promise<void> {
    return this.#write("account.key", pem);
  }

  async readCertificate(domains: readonly string[]): Promise<StoredCertificate | undefined> {
    const name = certificateName(domains);
    const [cert, key] = await Promise.all([this.#read(`${name}.crt`), this.#read(`${name}.key`)]);
    return cert !== undefined && key !== undefined ? { cert, key } : undefined;
  }

  /** The key first: a reader that finds the new chain finds its key. */
  async writeCertificate(domains: readonly string[], stored: StoredCertificate): Promise<void> {
    const name = certificateName(domains);
    await this.#write(`${name}.key`, stored.key);
    await this.#write(`${name}.crt`, stored.cert);
  }

  /** When the chain file last changed (ms), to notice a certificate another process stored. */
  async certificateChanged(domains: readonly string[]): Promise<number | undefined> {
    try {
      return (await stat(join(this.dir, `${certificateName(domains)}.crt`))).mtimeMs;
    } catch {
      return undefined;
    }
  }

  /** Pending HTTP-01 challenges, for worker processes (tokens are base64url: safe file names). */
  writeChallenge(token: string, keyAuthorization: string): Promise<void> {
    return this.#write(`challenge-${token}`, keyAuthorization);
  }

  readChallenge(token: string): Promise<string | undefined> {
    return this.#read(`challenge-${token}`);
  }

  async removeChallenge(token: string): Promise<void> {
    await rm(join(this.dir, `challenge-${token}`), { force: true });
  }

  async #read(name: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.dir, name), "utf8");
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async #write(name: string, text: string): Promise<void> {
    const file = join(this.dir, name);
    const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
    // "wx": a new file, never through a link someone placed at that name.
    await writeFile(temp, text, { mode: FILE_MODE, flag: "wx" });
    try {
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
