/**
 * One certificate order from an ACME CA (RFC 8555) with npm `acme-client`: account (found again
 * by its key), order, HTTP-01 challenges, finalize with a CSR, download the chain. ECDSA P-256
 * keys for the account and the certificate. acme-client talks through its own axios instance;
 * setUpAcmeHttp() bounds what a CA can make the gateway wait for or hold in memory.
 */
import acme from "acme-client";
import axios, { type AxiosAdapter, type InternalAxiosRequestConfig } from "axios";
import https from "node:https";
import tls from "node:tls";

/** One request to the CA: connect, send, answer. */
const REQUEST_TIMEOUT_MS = 30_000;
/** A whole order: the CA validates, issues; polling included. */
export const ORDER_TIMEOUT_MS = 300_000;
/** Directory, orders, chains: a few KiB. A CA answering more is not one. */
const MAX_ANSWER_BYTES = 1 << 20;

export interface OrderOptions {
  directory: string;
  email?: string;
  domains: readonly string[];
  accountKey: string;
  /** A challenge is about to be validated: answer `token` with `keyAuthorization`. */
  present(token: string, keyAuthorization: string): Promise<void>;
  /** It was (or will no longer be): stop answering it. */
  remove(token: string): Promise<void>;
}

export function createAccountKey(): Promise<string> {
  return acme.crypto.createPrivateEcdsaKey().then(String);
}

/** The certificate chain (leaf first, intermediates after) and its new private key. */
export async function orderCertificate(options: OrderOptions): Promise<{ cert: string; key: string }> {
  const client = new acme.Client({ directoryUrl: options.directory, accountKey: options.accountKey });
  const [key, csr] = await acme.crypto.createCsr(
    { commonName: options.domains[0]!, altNames: [...options.domains] },
    await acme.crypto.createPrivateEcdsaKey(),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no certificate within ${ORDER_TIMEOUT_MS / 1000} s`)),
      ORDER_TIMEOUT_MS,
    );
  });
  try {
    const cert = await Promise.race([
      findOrCreateAccount(client, options.email).then(() =>
        client.auto({
          csr,
          ...(options.email ? { email: options.email } : {}),
          termsOfServiceAgreed: true,
          challengePriority: ["http-01"],
          // acme-client would first fetch the token itself, through public DNS and port 80 of
          // the domain: the CA's own validation is the one that counts.
          skipChallengeVerification: true,
          challengeCreateFn: (_authz, challenge, keyAuthorization) =>
            options.present(challenge.token, keyAuthorization),
          challengeRemoveFn: (_authz, challenge) => options.remove(challenge.token),
        })
      ),
      expired,
    ]);
    return { cert, key: key.toString() };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Gives `client` its account URL, so auto() neither registers nor updates. Left to itself,
 * auto() answers "this key has an account" (200) with an update carrying only
 * termsOfServiceAgreed, which CAs may refuse (pebble: "use POST-as-GET"): every order after
 * the first would fail. Looking the account up with onlyReturnExisting makes acme-client
 * fetch it with POST-as-GET instead; only a key without an account registers one.
 */
async function findOrCreateAccount(client: acme.Client, email: string | undefined): Promise<void> {
  try {
    await client.createAccount({ onlyReturnExisting: true });
  } catch (err) {
    // The CA answered with a problem: accountDoesNotExist (RFC 8555 §7.3.1; CAs word its detail
    // differently, acme-client keeps only that). No answer at all is the order's failure.
    if (err instanceof NoAnswerError) throw err;
    await client.createAccount({
      termsOfServiceAgreed: true,
      ...(email ? { contact: [`mailto:${email}`] } : {}),
    });
  }
}

/**
 * Process-wide settings of acme-client's HTTP: the extra CAs trusted for the directories' HTTPS
 * (added to the system's roots, not replacing them), time and size limits, redirects that stay
 * on HTTPS, and network errors reported as themselves (acme-client's retry handler turns an
 * answerless failure into a TypeError; retries are the caller's backoff, so its own are off).
 */
export function setUpAcmeHttp(extraCas: readonly string[]): void {
  const defaults = acme.axios.defaults;
  // No `timeout`: axios's is an idle timer, which a CA dripping a byte now and then resets.
  // boundRequests() puts a deadline on the whole request instead.
  delete defaults.timeout;
  defaults.maxContentLength = MAX_ANSWER_BYTES;
  defaults.maxBodyLength = MAX_ANSWER_BYTES;
  defaults.maxRedirects = 3;
  defaults.beforeRedirect = refuseDowngrade;
  defaults.httpsAgent = new https.Agent(
    extraCas.length > 0 ? { ca: [...tls.rootCertificates, ...extraCas] } : {},
  );
  (defaults as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings!.retryMaxAttempts = 0;
  defaults.adapter = boundRequests(axios.getAdapter("http"));
}

/** RFC 8555 §6.1: ACME is HTTPS only; a redirect to http:// would send signed requests (and
 * take answers) in the clear. */
function refuseDowngrade(options: Record<string, unknown>): void {
  if (options.protocol !== "https:") {
    throw new Error(
      `refused a redirect to ${String(options.protocol).replace(/:$/, "")}:// (ACME is HTTPS only)`,
    );
  }
}

/** A request to the CA that got no (complete) answer: refused, timed out, TLS failure. */
class NoAnswerError extends Error {}

/**
 * Each request must be answered whole within REQUEST_TIMEOUT_MS. An error without an answer
 * leaves as a NoAnswerError (no `config`), which acme-client's interceptor passes through
 * untouched: "connect ECONNREFUSED 127.0.0.1:1", not a TypeError.
 */
function boundRequests(http: AxiosAdapter): AxiosAdapter {
  return async (config: InternalAxiosRequestConfig) => {
    const deadline = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    const signal = config.signal ? AbortSignal.any([config.signal as AbortSignal, deadline]) : deadline;
    try {
      return await http({ ...config, signal });
    } catch (err) {
      if ((err as { response?: unknown }).response !== undefined) throw err;
      const message = deadline.aborted
        ? `no complete answer within ${REQUEST_TIMEOUT_MS / 1000} s`
        : err instanceof Error
        ? err.message
        : String(err);
      throw new NoAnswerError(`${config.url}: ${message}`);
    }
  };
}
