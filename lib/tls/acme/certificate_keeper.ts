/**
 * One `tls.acme` block's certificate over time. The process that obtains (the only one, or the
 * workers' supervisor) serves a stored certificate at once, orders one when there is none or
 * renewal is due, and retries failures with backoff while the old one is served. Worker
 * processes only follow: they load what the storage holds and notice when it changes.
 */
import { describeError } from "../../errors.ts";
import { type CertificateInfo, inspectCertificate, storedCertificateProblem } from "./certificate.ts";
import { createAccountKey, orderCertificate } from "./client.ts";
import { failureBackoff, nextCheckDelay, renewalDue } from "./schedule.ts";
import type { AcmeStorage, StoredCertificate } from "./storage.ts";
import type { AcmeConfig } from "../../config/schema.ts";
import type { Logger } from "../../observe/log.ts";

/** How often a worker looks whether the supervisor stored a new certificate. */
export const FOLLOW_INTERVAL_MS = 1_000;

export type Served = StoredCertificate & CertificateInfo;

export interface KeeperOptions {
  storage: AcmeStorage;
  logger: Logger;
  /** A certificate (first or newer) is ready to serve. */
  onCertificate(served: Served): void;
  /** Answer this challenge from now on (present) or no more (remove). */
  present(token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): Promise<void>;
  /** Served meanwhile for some of the names: the certificate of the domain list this one replaced. */
  stopgap?: { notAfter: number; serverNames: readonly string[] };
  /** Obtain and renew ("order"), or only follow what another process stores. */
  role: "order" | "follow";
  /** Resolves once the plain listeners that answer HTTP-01 are open: no order goes out before. */
  listening: Promise<void>;
  now?: () => number;
  random?: () => number;
}

export class CertificateKeeper {
  #served: Served | undefined;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #seen: number | undefined;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(readonly config: AcmeConfig, readonly options: KeeperOptions) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  get served(): Served | undefined {
    return this.#served;
  }

  get #fields() {
    return { domains: this.config.domains.join(",") };
  }

  /** Serves what the storage holds if it is still valid, then orders or follows. */
  async start(): Promise<void> {
    const stored = await this.#loadStored();
    if (stored) {
      this.options.logger.log("info", "acme_loaded", {
        ...this.#fields,
        expires: new Date(stored.notAfter).toISOString(),
      });
    }
    if (this.options.role === "follow") this.#follow();
    else this.check();
  }

  /** Checks now (start, reload) unless an order is under way. */
  check(): void {
    if (this.#stopped || this.#running || this.options.role !== "order") return;
    clearTimeout(this.#timer);
    this.#running = this.#checkOnce().finally(() => this.#running = undefined);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #loadStored(): Promise<Served | undefined> {
    const stored = await this.options.storage.readCertificate(this.config.domains);
    if (!stored) return undefined;
    const problem = storedCertificateProblem(stored.cert, stored.key, this.config.domains, this.#now());
    if (problem) {
      this.options.logger.log("warn", "acme_stored_unusable", { ...this.#fields, reason: problem });
      return undefined;
    }
    return this.#serve(stored);
  }

  #serve(stored: StoredCertificate): Served {
    const served = { ...stored, ...inspectCertificate(stored.cert) };
    this.#served = served;
    this.options.onCertificate(served);
    return served;
  }

  async #checkOnce(): Promise<void> {
    const { renew_before: renewBefore } = this.config;
    const before = this.#served;
    if (before && !renewalDue(before.notAfter, this.#now(), renewBefore)) {
      this.#schedule(nextCheckDelay(before.notAfter, this.#now(), renewBefore, this.#random()));
      return;
    }
    try {
      await this.options.listening;
      const stored = await orderCertificate({
        directory: this.config.directory,
        ...(this.config.email ? { email: this.config.email } : {}),
        domains: this.config.domains,
        accountKey: await this.#accountKey(),
        present: this.options.present,
        remove: this.options.remove,
      });
      if (this.#stopped) return;
      await this.options.storage.writeCertificate(this.config.domains, stored);
      const served = this.#serve(stored);
      this.#failures = 0;
      this.options.logger.log("info", before ? "acme_renewed" : "acme_obtained", {
        ...this.#fields,
        expires: new Date(served.notAfter).toISOString(),
        serial: served.serial,
      });
      // Not due again at once: a renew_before longer than the lifetime renews at the next check.
      this.#schedule(nextCheckDelay(Infinity, this.#now(), renewBefore, this.#random()));
    } catch (err) {
      if (this.#stopped) return;
      this.#failures++;
      const delay = failureBackoff(this.#failures, this.#random());
      this.options.logger.log("error", "acme_failed", {
        ...this.#fields,
        directory: this.config.directory,
        reason: describeError(err),
        failures: this.#failures,
        retry_in_s: Math.round(delay / 1000),
        serving: this.#serving(before),
      });
      this.#schedule(delay);
    }
  }

  #serving(own: Served | undefined): string {
    if (own) return `certificate valid until ${new Date(own.notAfter).toISOString()}`;
    const { stopgap } = this.options;
    if (!stopgap || stopgap.notAfter <= this.#now()) return "none";
    const until = new Date(stopgap.notAfter).toISOString();
    return `previous certificate valid until ${until} for ${stopgap.serverNames.join(",")}`;
  }

  async #accountKey(): Promise<string> {
    const { storage } = this.options;
    const stored = await storage.readAccountKey();
    if (stored !== undefined) return stored;
    const key = await createAccountKey();
    await storage.writeAccountKey(key);
    return key;
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.check(), delay);
  }

  /** Workers: load the certificate again whenever the file changed. */
  #follow(): void {
    const look = async () => {
      const changed = await this.options.storage.certificateChanged(this.config.domains);
      if (changed !== undefined && changed !== this.#seen) {
        this.#seen = changed;
        const stored = await this.options.storage.readCertificate(this.config.domains);
        const problem = stored &&
          storedCertificateProblem(stored.cert, stored.key, this.config.domains, this.#now());
        if (stored && !problem && stored.cert !== this.#served?.cert) this.#serve(stored);
      }
    };
    const loop = () => {
      if (this.#stopped) return;
      look().catch(() => {}).finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(loop, FOLLOW_INTERVAL_MS);
      });
    };
    loop();
  }
}
