/**
 * Every `tls.acme` block of the running configuration: one CertificateKeeper each (kept across
 * reloads while the block is unchanged), the HTTP-01 tokens they hand out, and the expiry gauge.
 * The gateway asks it for a server's current certificate and is told when one changes.
 */
import { CertificateKeeper, type Served } from "./certificate_keeper.ts";
import { setUpAcmeHttp } from "./client.ts";
import { AcmeStorage } from "./storage.ts";
import type { ChallengeLookup } from "./http01.ts";
import type { AcmeConfig, Config } from "../../config/schema.ts";
import type { Logger } from "../../observe/log.ts";
import type { Metrics } from "../../observe/metrics.ts";

export interface AcmeServiceOptions {
  logger: Logger;
  /** Where wsgate_certificate_expiry_seconds goes (the processes that serve). */
  metrics?: Metrics;
  /** "order": obtain and renew; "follow": serve what another process stores (workers). */
  role: "order" | "follow";
  /** Write pending challenges to storage too, for worker processes to answer. */
  shareChallenges: boolean;
  /** A server's certificate appeared or changed. */
  onChange?: () => void;
  /** Resolves once the plain listeners are open (this process's, or every worker's). */
  listening: Promise<void>;
}

/** Two blocks with the same key share one certificate. */
function keyOf(acme: AcmeConfig): string {
  return JSON.stringify([acme.storage, acme.domains, acme.directory, acme.email ?? "", acme.ca ?? ""]);
}

/** A certificate served for some of a block's names: `serverNames` (SNI) are those it covers. */
export interface AcmeCertificate {
  cert: string;
  key: string;
  serverNames?: string[];
}

/**
 * What a block whose domain list just changed serves until its own certificate exists: the
 * still-valid certificate of a block it replaced that covers some of its names, for those names
 * (DESIGN §3d: the old certificate is served until it expires).
 */
function stopgapFor(
  domains: readonly string[],
  replaced: readonly CertificateKeeper[],
  now: number,
): (Required<AcmeCertificate> & { notAfter: number }) | undefined {
  for (const keeper of replaced) {
    const served = keeper.served;
    if (!served || served.notAfter <= now) continue;
    const covered = domains.filter((name) => keeper.config.domains.includes(name));
    if (covered.length > 0) {
      return { cert: served.cert, key: served.key, serverNames: covered, notAfter: served.notAfter };
    }
  }
  return undefined;
}

export class AcmeService {
  #keepers = new Map<string, CertificateKeeper>();
  /** Blocks waiting for their first certificate after a reload changed their domains. */
  #stopgaps = new Map<string, Required<AcmeCertificate> & { notAfter: number }>();
  #storages = new Map<string, AcmeStorage>();
  /** Pending challenges this process handed out: token -> key authorization. */
  #pending = new Map<string, string>();
  readonly #options: AcmeServiceOptions;

  constructor(options: AcmeServiceOptions) {
    this.#options = options;
  }

  /** Starts keepers for new blocks and stops those of removed ones. Resolves once each new
   * block's stored certificate (if any) is loaded; throws when a storage folder is unusable. */
  async update(config: Config): Promise<void> {
    const blocks = config.servers.flatMap((server) => server.acme ? [server.acme] : []);
    setUpAcmeHttp([...new Set(blocks.flatMap((acme) => acme.ca ? [acme.ca] : []))]);
    const wanted = new Map(blocks.map((acme) => [keyOf(acme), acme]));
    if (this.#options.role === "order" && blocks.length > 0 && config.servers.every((s) => s.tls || s.acme)) {
      // Not an error: port 80 may be forwarded to another wsgate, or answered by something else.
      this.#options.logger.log("warn", "acme_no_plain_listener", {
        note: "HTTP-01 needs a plain (non-TLS) listener the CA reaches on port 80 of each domain",
      });
    }
    const started: CertificateKeeper[] = [];
    const replaced = [...this.#keepers].flatMap(([key, keeper]) => wanted.has(key) ? [] : [keeper]);
    for (const [key, acme] of wanted) {
      if (this.#keepers.has(key)) continue;
      const stopgap = stopgapFor(acme.domains, replaced, Date.now());
      if (stopgap) this.#stopgaps.set(key, stopgap);
      const storage = await this.#storage(acme.storage);
      const keeper = new CertificateKeeper(acme, {
        storage,
        logger: this.#options.logger,
        role: this.#options.role,
        ...(stopgap ? { stopgap } : {}),
        listening: this.#options.listening,
        onCertificate: (served) => this.#changed(acme, served),
        present: (token, keyAuthorization) => this.#present(storage, token, keyAuthorization),
        remove: (token) => this.#remove(storage, token),
      });
      this.#keepers.set(key, keeper);
      started.push(keeper);
    }
    for (const [key, keeper] of this.#keepers) {
      if (wanted.has(key)) continue;
      keeper.stop();
      this.#keepers.delete(key);
    }
    for (const key of this.#stopgaps.keys()) if (!wanted.has(key)) this.#stopgaps.delete(key);
    await Promise.all(started.map((keeper) => keeper.start()));
  }

  /** A reload is a reason to look again: renewal may have become due with a new renew_before. */
  checkAll(): void {
    for (const keeper of this.#keepers.values()) keeper.check();
  }

  /** The certificate currently served for a block, if there is one yet: its own, else the
   * one it replaced (for the names that one covers) while that is valid. */
  certificateFor(acme: AcmeConfig): AcmeCertificate | undefined {
    const key = keyOf(acme);
    const served = this.#keepers.get(key)?.served;
    if (served) {
      this.#stopgaps.delete(key);
      return { cert: served.cert, key: served.key };
    }
    const stopgap = this.#stopgaps.get(key);
    if (!stopgap || stopgap.notAfter <= Date.now()) return undefined;
    return { cert: stopgap.cert, key: stopgap.key, serverNames: stopgap.serverNames };
  }

  /** HTTP-01: this process's pending tokens, else (workers) those the supervisor stored. */
  readonly challenge: ChallengeLookup = async (token) => {
    const pending = this.#pending.get(token);
    if (pending !== undefined || this.#options.role === "order") return pending;
    for (const storage of this.#storages.values()) {
      const stored = await storage.readChallenge(token);
      if (stored !== undefined) return stored;
    }
    return undefined;
  };

  stop(): void {
    for (const keeper of this.#keepers.values()) keeper.stop();
  }

  async #storage(dir: string): Promise<AcmeStorage> {
    const known = this.#storages.get(dir);
    if (known) return known;
    const storage = await AcmeStorage.open(dir);
    this.#storages.set(dir, storage);
    return storage;
  }

  async #present(storage: AcmeStorage, token: string, keyAuthorization: string): Promise<void> {
    this.#pending.set(token, keyAuthorization);
    if (this.#options.shareChallenges) await storage.writeChallenge(token, keyAuthorization);
  }

  async #remove(storage: AcmeStorage, token: string): Promise<void> {
    this.#pending.delete(token);
    if (this.#options.shareChallenges) await storage.removeChallenge(token);
  }

  #changed(acme: AcmeConfig, served: Served): void {
    for (const domain of acme.domains) {
      this.#options.metrics?.setGauge(
        "wsgate_certificate_expiry_seconds",
        { domain },
        served.notAfter / 1000,
      );
    }
    this.#options.onChange?.();
  }
}
