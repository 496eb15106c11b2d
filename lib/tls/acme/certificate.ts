/**
 * What a PEM certificate chain says about itself (node:crypto's X509Certificate, in Deno and Bun
 * alike): until when it is valid, which names it covers, and whether a key belongs to it.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";

export interface CertificateInfo {
  /** ms since the epoch */
  notAfter: number;
  /** DNS names of the leaf (subjectAltName), lower case. */
  names: string[];
  serial: string;
}

/** The leaf (first certificate) of a PEM chain. Throws on text that is not one. */
export function inspectCertificate(chain: string): CertificateInfo {
  const leaf = new X509Certificate(chain);
  const names = (leaf.subjectAltName ?? "").split(/,\s*/)
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice(4).toLowerCase());
  return { notAfter: Date.parse(leaf.validTo), names, serial: leaf.serialNumber };
}

/**
 * Why a stored chain and key cannot serve `domains` at `now`, or undefined when they can: it
 * must parse, cover every domain, match the key and not have expired.
 */
export function storedCertificateProblem(
  chain: string,
  key: string,
  domains: readonly string[],
  now: number,
): string | undefined {
  let info: CertificateInfo;
  try {
    info = inspectCertificate(chain);
    if (!new X509Certificate(chain).checkPrivateKey(createPrivateKey(key))) {
      return "the private key does not belong to the certificate";
    }
  } catch (err) {
    return `unreadable: ${err instanceof Error ? err.message : String(err)}`;
  }
  const missing = domains.filter((domain) => !info.names.includes(domain));
  if (missing.length > 0) return `does not cover ${missing.join(", ")}`;
  if (info.notAfter <= now) return `expired at ${new Date(info.notAfter).toISOString()}`;
  return undefined;
}
