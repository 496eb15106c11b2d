/**
 * Client certificates (pure): what a TLS library reports about the certificate a client presented
 * (node:tls' getPeerCertificate() shape, which Bun shares) turned into the gateway's record
 * { subject, fingerprint, verified }, on one line whatever the certificate holds.
 */
import type { ClientCertificate } from "../runtime/types.ts";

/** The parts of node:tls' PeerCertificate used here; an empty object when none was presented. */
export interface PeerCertificate {
  /** Attribute type -> value (a string, or a list for a repeated one), in the certificate's order. */
  subject?: object;
  /** "AB:CD:..." (SHA-256 of the DER certificate). */
  fingerprint256?: string;
}

/** What a client that presented no certificate is reported as (client_auth: optional). */
export const NO_CLIENT_CERTIFICATE: ClientCertificate = Object.freeze({
  subject: "",
  fingerprint: "",
  verified: false,
});

export function clientCertificate(peer: PeerCertificate | undefined, verified: boolean): ClientCertificate {
  const fingerprint = formatFingerprint(peer?.fingerprint256 ?? "");
  if (fingerprint === "") return NO_CLIENT_CERTIFICATE;
  return { subject: formatSubject(peer?.subject ?? {}), fingerprint, verified };
}

/** "AB:CD:0F" -> "abcd0f"; anything that is not hex pairs (a library surprise) -> "". */
export function formatFingerprint(colonHex: string): string {
  const hex = colonHex.replaceAll(":", "").toLowerCase();
  return /^(?:[0-9a-f]{2})+$/.test(hex) ? hex : "";
}

/**
 * `CN=alice,O=Example`: each attribute in order (a repeated one once per value), values escaped
 * as RFC 4514 says, so a value holding `,` or `=` cannot pass for another attribute, and control
 * bytes written as `\XX`, so the subject always stays on one line.
 */
export function formatSubject(subject: object): string {
  const parts: string[] = [];
  for (const [type, value] of Object.entries(subject)) {
    if (!/^[A-Za-z][A-Za-z0-9-]*$|^[0-9]+(?:\.[0-9]+)*$/.test(type)) continue;
    for (const one of Array.isArray(value) ? value : [value]) {
      if (typeof one === "string") parts.push(`${type}=${escapeValue(one)}`);
    }
  }
  return parts.join(",");
}

function escapeValue(value: string): string {
  let out = "";
  const chars = [...value];
  for (const [i, char] of chars.entries()) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, "0").toUpperCase()}`;
    else if (`,+"\\<>;=`.includes(char)) out += `\\${char}`;
    else if (i === 0 && (char === "#" || char === " ")) out += `\\${char}`;
    else if (i === chars.length - 1 && char === " ") out += "\\ ";
    else out += char;
  }
  return out;
}
