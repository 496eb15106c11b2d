/** `wsgate check` for ACME: whether each block's storage folder can be used (the rest of the
 * block was validated with the config). */
import { formatPath } from "../../config/validate.ts";
import { storageProblem } from "./storage.ts";
import type { Config } from "../../config/schema.ts";

/** "servers[0].tls.acme.storage: why", one per unusable folder. */
export async function acmeStorageProblems(config: Config): Promise<string[]> {
  const problems = await Promise.all(config.servers.map(async (server, i) => {
    const problem = server.acme && await storageProblem(server.acme.storage);
    return problem ? [`${formatPath(["servers", i, "tls", "acme", "storage"])}: ${problem}`] : [];
  }));
  return problems.flat();
}
