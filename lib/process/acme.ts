/**
 * A process's ACME side, loaded only once a configuration has a `tls.acme` block (the ACME client
 * and its dependencies cost start-up time that other configurations need not pay). The gateway
 * sees two lookups that answer nothing until then.
 */
import type { AcmeService, AcmeServiceOptions } from "../tls/acme/service.ts";
import type { AcmeLookup } from "./listen_plan.ts";
import type { ChallengeLookup } from "../tls/acme/http01.ts";
import type { LoadResult } from "../config/load.ts";
import type { Config } from "../config/schema.ts";

export class ProcessAcme {
  #service: AcmeService | undefined;
  readonly #options: AcmeServiceOptions;

  constructor(options: AcmeServiceOptions) {
    this.#options = options;
  }

  readonly certificate: AcmeLookup = (acme) => this.#service?.certificateFor(acme);

  readonly challenge: ChallengeLookup = (token) =>
    this.#service ? this.#service.challenge(token) : Promise.resolve(undefined);

  /** Follows `config`'s ACME blocks; throws when a storage folder is unusable. */
  async update(config: Config): Promise<void> {
    if (!this.#service && !config.servers.some((server) => server.acme)) return;
    if (!this.#service) {
      const { AcmeService } = await import("../tls/acme/service.ts");
      this.#service = new AcmeService(this.#options);
    }
    await this.#service.update(config);
  }

  /**
   * `load` (a config reload) with the ACME side updated before the config is used, and a check
   * of every certificate (renewal may be due under the new settings). An unusable storage folder
   * fails the reload like any config error.
   */
  reloading(load: () => Promise<LoadResult>): () => Promise<LoadResult> {
    return async () => {
      const result = await load();
      if (!result.config) return result;
      try {
        await this.update(result.config);
      } catch (err) {
        return { errors: [`${result.config.source}: ACME storage: ${(err as Error).message}`] };
      }
      this.#service?.checkAll();
      return result;
    };
  }

  stop(): void {
    this.#service?.stop();
  }
}
