/**
 * `tls: { acme: {...} }` on a server block: the certificate is obtained from an ACME CA (HTTP-01)
 * instead of being read from files. Pure like the rest of validation: the `ca` file is only
 * named here (load.ts reads it); whether `storage` is usable is checked by lib/tls/acme/storage.ts.
 */
import { asDuration, asString, Invalid, type KeyPath, type Parse, type Raw, type Reader } from "./reader.ts";
import { type AcmeConfig, DEFAULTS } from "./schema.ts";

const KEYS = ["domains", "email", "directory", "ca", "storage", "renew_before"] as const;
/** One DNS label (RFC 1035 letters, digits, hyphens; not at either end). */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** renew_before is compared with a certificate's remaining validity, never one timer (the
 * schedule's are at most an hour): it may exceed setTimeout's 24.8 days. Ten years is beyond
 * any certificate's lifetime (public ones: at most 398 days). */
const MAX_RENEW_BEFORE_MS = 3650 * 86_400_000;
const EMAIL = /^[^\s@<>(),;:"[\]\\]+@[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/i;

/** Whether `tls:` is the ACME form (a mapping with an `acme` key). */
export function isAcmeTls(tls: unknown): boolean {
  return typeof tls === "object" && tls !== null && !Array.isArray(tls) && "acme" in tls;
}

/** Reads `tls.acme` of the server block at `serverPath`; undefined when invalid (reported). */
export function readAcme(r: Reader, tls: Raw, serverPath: KeyPath): AcmeConfig | undefined {
  const tlsPath = [...serverPath, "tls"];
  const others = Object.keys(tls).filter((key) => key !== "acme");
  if (others.length > 0) {
    r.report(
      [...tlsPath, others[0]!],
      `"acme" takes the place of cert/key: a server's certificate comes from files or from ACME, not both`,
      true,
    );
  }
  const path = [...tlsPath, "acme"];
  const raw = r.mapping(tls.acme, path, KEYS);
  if (raw === undefined) return undefined;
  const issues = r.issues.length;
  const domains = readDomains(r, raw, path);
  const email = r.get(raw, "email", path, asEmail);
  const directory = r.get(raw, "directory", path, asDirectory) ?? DEFAULTS.acme.directory;
  const storage = r.resolve(r.get(raw, "storage", path, asString) ?? DEFAULTS.acme.storage);
  const renew_before =
    r.get(raw, "renew_before", path, asDuration({ positive: true, max: MAX_RENEW_BEFORE_MS })) ??
      DEFAULTS.acme.renew_before;
  const config: AcmeConfig = { domains, directory, storage, renew_before, ...(email && { email }) };
  const ca = r.get(raw, "ca", path, asString);
  if (ca !== undefined) {
    config.ca = "";
    config.ca_file = r.pemFile([...path, "ca"], ca, (pem) => config.ca = pem);
  }
  return r.issues.length === issues ? config : undefined;
}

function readDomains(r: Reader, raw: Raw, path: KeyPath): string[] {
  const domains: string[] = [];
  for (const item of r.strings(raw, "domains", path, { required: true }) ?? []) {
    const name = item.value.toLowerCase();
    const problem = domainProblem(name);
    if (problem) r.report(item.path, `"${item.value}" ${problem}`);
    else if (domains.includes(name)) r.report(item.path, `duplicate domain "${item.value}"`);
    else domains.push(name);
  }
  return domains;
}

/** Why `name` cannot be on a certificate obtained with HTTP-01, or undefined when it can. */
export function domainProblem(name: string): string | undefined {
  if (name.startsWith("*.")) {
    return "is a wildcard: HTTP-01 cannot validate wildcards (list each name)";
  }
  if (name.endsWith(".")) return "must not end with a dot";
  if (name.length > 253) return "is longer than 253 characters";
  const labels = name.split(".");
  if (labels.length < 2) return "is not a fully qualified domain name (like chat.example.com)";
  if (!labels.every((label) => LABEL.test(label))) {
    return "is not a valid domain name (letters, digits and hyphens, dot-separated labels of 1-63)";
  }
  if (/^[0-9]+$/.test(labels.at(-1)!)) return "is an IP address: only domain names are supported";
  return undefined;
}

const asEmail: Parse<string> = (value) =>
  typeof value === "string" && EMAIL.test(value) ? value : new Invalid("must be an email address");

const asDirectory: Parse<string> = (value) => {
  if (typeof value !== "string") return new Invalid("must be a URL");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return new Invalid("must be a URL (https://...)");
  }
  // RFC 8555 §6.1: ACME is spoken over HTTPS only.
  return url.protocol === "https:" ? value : new Invalid("must be an https:// URL (RFC 8555 requires HTTPS)");
};
