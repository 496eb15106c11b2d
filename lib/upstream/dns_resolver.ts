/**
 * DNS lookups for discovery, over TCP (RFC 7766) through the Net seam, so both runtimes behave
 * alike and an answer of hundreds of addresses is never truncated. The runtimes' own resolvers
 * were measured and not used: on Deno both `Deno.resolveDns` and `node:dns` report a REFUSED
 * answer as "no records", which would empty a group when its name server misbehaves, where a
 * failed lookup must keep the last good answer (DESIGN §3c).
 * Name servers are asked in order; one that cannot be reached, times out, or answers SERVFAIL,
 * REFUSED, FORMERR or NOTIMP hands the question to the next. NXDOMAIN and an empty NOERROR are
 * answers: the name has no such records.
 */
import { describeError } from "../errors.ts";
import { formatAddr } from "../net/address.ts";
import { decodeAnswer, type DnsAnswer, encodeQuery, type QueryType, Rcode } from "../net/dns_message.ts";
import type { NameserverAddr } from "../net/nameserver.ts";
import type { Conn, Net } from "../runtime/types.ts";

/** No name server gave an answer; the message says what each did. */
export class LookupFailed extends Error {
  override name = "LookupFailed";
}

export interface ResolverOptions {
  nameservers: readonly NameserverAddr[];
  /** For one question to one name server, connection included. */
  timeout: number;
}

const RCODE_NAMES: Record<number, string> = {
  [Rcode.formErr]: "FORMERR",
  [Rcode.servFail]: "SERVFAIL",
  [Rcode.notImp]: "NOTIMP",
  [Rcode.refused]: "REFUSED",
};

export class DnsResolver {
  #net: Net;
  #options: ResolverOptions;

  constructor(net: Net, options: ResolverOptions) {
    this.#net = net;
    this.#options = options;
  }

  /** The answer to one question (NXDOMAIN: an answer with no records); throws LookupFailed. */
  async query(name: string, type: QueryType): Promise<DnsAnswer> {
    const problems: string[] = [];
    if (this.#options.nameservers.length === 0) throw new LookupFailed("no name server configured");
    for (const server of this.#options.nameservers) {
      try {
        const answer = await this.#ask(server, name, type);
        const answered = answer.rcode === Rcode.noError || answer.rcode === Rcode.nxDomain;
        // A cut answer would pass for a smaller set of servers.
        if (answered && !answer.truncated) return answer;
        if (answered) {
          problems.push(`${formatAddr(server)} sent a truncated answer`);
          continue;
        }
        problems.push(
          `${formatAddr(server)} answered ${RCODE_NAMES[answer.rcode] ?? `rcode ${answer.rcode}`}`,
        );
      } catch (err) {
        problems.push(`${formatAddr(server)}: ${describeError(err)}`);
      }
    }
    throw new LookupFailed(`${type} ${name}: ${problems.join("; ")}`);
  }

  /** Every A and AAAA address of `name`. One family failing while the other answers is enough;
   * both failing, or one failing while the other is empty, is a failed lookup. */
  async addresses(name: string): Promise<string[]> {
    const [v4, v6] = await Promise.allSettled([this.query(name, "A"), this.query(name, "AAAA")]);
    const ips = [v4, v6].flatMap((r) => r.status === "fulfilled" ? r.value.ips : []);
    const failed = [v4, v6].find((r) => r.status === "rejected");
    if (failed && ips.length === 0) throw failed.reason;
    return ips;
  }

  async #ask(server: NameserverAddr, name: string, type: QueryType): Promise<DnsAnswer> {
    const id = crypto.getRandomValues(new Uint16Array(1))[0]!;
    const query = encodeQuery(id, name, type);
    const controller = new AbortController();
    let conn: Conn | undefined;
    const timer = setTimeout(() => {
      controller.abort();
      conn?.close();
    }, this.#options.timeout);
    try {
      conn = await this.#net.connect({ addr: server, signal: controller.signal });
      const framed = new Uint8Array(2 + query.length);
      new DataView(framed.buffer).setUint16(0, query.length);
      framed.set(query, 2);
      await conn.write(framed);
      return decodeAnswer(await readFramed(conn), id, name);
    } catch (err) {
      if (controller.signal.aborted) throw new LookupFailed(`no answer within ${this.#options.timeout} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
      conn?.close();
    }
  }
}

/** One length-prefixed message (RFC 1035 §4.2.2). */
async function readFramed(conn: Conn): Promise<Uint8Array> {
  let buffered = new Uint8Array(0);
  while (true) {
    if (buffered.length >= 2) {
      const length = (buffered[0]! << 8) | buffered[1]!;
      if (buffered.length >= 2 + length) return buffered.slice(2, 2 + length);
    }
    const chunk = await conn.read();
    if (chunk === null) throw new LookupFailed("closed the connection before answering");
    const grown = new Uint8Array(buffered.length + chunk.length);
    grown.set(buffered);
    grown.set(chunk, buffered.length);
    buffered = grown;
  }
}
