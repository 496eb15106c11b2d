/**
 * The `admin` section: where the admin listener listens, which extra Host names it answers,
 * and the bearer token it asks for. Pure like the rest of validation: the token file is only
 * named here, load.ts reads it (on every reload too, so a rotated token applies).
 */
import { parseListenAddress } from "../net/address.ts";
import { Invalid, type Parse, type Raw, type Reader, type ReadFile } from "./reader.ts";
import { type AdminConfig, DEFAULTS } from "./schema.ts";
import type { Addr } from "../net/address.ts";

const KEYS = ["listen", "hosts", "token_file"] as const;
/** One DNS name; no wildcard (each name that may reach the admin is listed on purpose). */
const NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/i;
/** What an Authorization header can carry as one token: visible ASCII, no spaces. */
const TOKEN = /^[\x21-\x7e]+$/;

/** `{ admin }` when the section is there, else `{}`: spread into the config. */
export function readAdmin(r: Reader, root: Raw): { admin?: AdminConfig } {
  if (root.admin === undefined) return {};
  const raw = r.section(root, "admin", [], KEYS);
  const listen = r.need(raw, "listen", ["admin"], asListenAddress);
  const admin: Omit<AdminConfig, "listen"> = { hosts: readNames(r, raw) };
  const tokenFile = r.get(raw, "token_file", ["admin"], asPath);
  if (tokenFile !== undefined) {
    admin.token = "";
    admin.token_file = r.file(["admin", "token_file"], tokenFile, asToken, (token) => admin.token = token);
  }
  // The same object: load.ts fills the token in after validation.
  return listen === undefined ? {} : { admin: Object.assign(admin, { listen }) };
}

const asListenAddress: Parse<Addr> = (value) => {
  if (typeof value !== "string") return new Invalid("must be a string");
  const addr = parseListenAddress(value);
  return "error" in addr ? new Invalid(addr.error) : addr;
};

const asPath: Parse<string> = (value) =>
  typeof value === "string" && value !== "" ? value : new Invalid("must be a file path");

/** The file's first line is the token; the newline an editor or `echo` adds is not part of it. */
const asToken: ReadFile = (text) => {
  const token = text.replace(/[\r\n]+$/, "");
  if (token === "") return new Invalid("is empty (it must hold the admin token)");
  if (!TOKEN.test(token)) {
    return new Invalid("must hold the token alone on one line: visible ASCII, no spaces");
  }
  return token;
};

/** Lower case without the trailing dot: compared with Host headers normalised alike. */
function readNames(r: Reader, raw: Raw): string[] {
  const items = r.strings(raw, "hosts", ["admin"], { required: false });
  if (items === undefined) return [...DEFAULTS.admin.hosts];
  const names: string[] = [];
  for (const item of items) {
    if (NAME.test(item.value)) names.push(item.value.toLowerCase().replace(/\.$/, ""));
    else r.report(item.path, `invalid host name "${item.value}" (list exact names like admin.example.com)`);
  }
  return names;
}
