/**
 * DnsResolver over real TCP: against dnsmasq (answers, NXDOMAIN, NODATA, REFUSED) and against
 * scripted hostile name servers (silent, lying lengths, garbage, a stray id), each of which must
 * end in LookupFailed within the timeout and hand the question to the next name server.
 */
import assert from "node:assert/strict";
import { runtime } from "../../lib/runtime/deno.ts";
import { DnsResolver, LookupFailed } from "../../lib/upstream/dns_resolver.ts";
import { parseNameserver } from "../../lib/net/nameserver.ts";
import { Dnsmasq } from "../e2e/_dns.ts";

const ns = (text: string) => {
  const parsed = parseNameserver(text);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed;
};

/** A TCP name server that runs `script` on each connection: the query's bytes in, anything out. */
function scripted(script: (conn: Deno.Conn, query: Uint8Array) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(512);
        const n = await conn.read(buf).catch(() => null);
        if (n) await script(conn, buf.slice(2, n)).catch(() => {});
      })();
    }
  })().catch(() => {});
  return {
    nameserver: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    [Symbol.dispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    },
  };
}

Deno.test("DnsResolver: answers, NXDOMAIN and NODATA from dnsmasq; REFUSED is a failure", async () => {
  await using dns = await Dnsmasq.start(
    { "app.test": ["127.0.0.2", "fd00::2"], "v4.test": ["127.0.0.3"] },
    [],
    // An ExternalName Service is a CNAME: the answer carries the chain and the target's addresses.
    { "alias.test": "v4.test" },
  );
  const resolver = new DnsResolver(runtime, { nameservers: [ns(dns.nameserver)], timeout: 2_000 });
  assert.deepEqual((await resolver.addresses("app.test")).sort(), ["127.0.0.2", "fd00::2"]);
  assert.deepEqual(await resolver.addresses("V4.test."), ["127.0.0.3"]);
  assert.deepEqual(await resolver.addresses("missing.test"), []);
  assert.deepEqual(await resolver.addresses("alias.test"), ["127.0.0.3"]);
  // Outside the zone dnsmasq serves, with no upstream: REFUSED, not "no such name".
  await assert.rejects(resolver.addresses("app.example"), (err: Error) => {
    assert.ok(err instanceof LookupFailed);
    assert.match(err.message, /answered REFUSED/);
    return true;
  });
});

Deno.test("DnsResolver: a dead, silent or lying name server hands the question to the next", async () => {
  await using dns = await Dnsmasq.start({ "app.test": ["127.0.0.2"] });
  using silent = scripted(() => new Promise(() => {}));
  using liar = scripted(async (conn) => {
    // Announces 60,000 bytes, sends 3, then stalls.
    await conn.write(new Uint8Array([0xea, 0x60, 1, 2, 3]));
    await new Promise(() => {});
  });
  using garbage = scripted(async (conn) => {
    await conn.write(new Uint8Array([0, 12, ...new Array(12).fill(0xff)]));
    conn.close();
  });
  using stray = scripted(async (conn, query) => {
    // A valid-looking response with another id.
    const answer = query.slice();
    answer[0]! ^= 0xff;
    answer[2]! |= 0x80;
    await conn.write(new Uint8Array([0, answer.length, ...answer]));
    conn.close();
  });
  using hangup = scripted((conn) => Promise.resolve(conn.close()));
  using truncated = scripted(async (conn, query) => {
    // The query's own id, a response, TC set: over TCP only a broken server says so.
    const answer = query.slice();
    answer[2]! |= 0x82;
    await conn.write(new Uint8Array([0, answer.length, ...answer]));
    conn.close();
  });
  const dead = "127.0.0.1:1";
  const resolver = new DnsResolver(runtime, {
    nameservers: [
      dead,
      silent.nameserver,
      liar.nameserver,
      garbage.nameserver,
      stray.nameserver,
      hangup.nameserver,
      truncated.nameserver,
    ]
      .map(ns),
    timeout: 300,
  });
  const started = Date.now();
  const error = await resolver.query("app.test", "A").then(() => undefined, (err) => err as Error);
  assert.ok(error instanceof LookupFailed, String(error));
  const reasons = error.message.split("; ");
  assert.equal(reasons.length, 7, error.message);
  assert.match(reasons[0]!, /127\.0\.0\.1:1: .*refused/i);
  assert.match(reasons[1]!, /no answer within 300 ms/);
  assert.match(reasons[2]!, /no answer within 300 ms/);
  assert.match(reasons[3]!, /DnsFormatError|not a response|id/);
  assert.match(reasons[4]!, /is not the query's/);
  assert.match(reasons[5]!, /closed the connection before answering/);
  assert.match(reasons[6]!, /sent a truncated answer/);
  assert.ok(Date.now() - started < 5_000);
  // The same list with a good server at the end: its answer wins.
  const withGood = new DnsResolver(runtime, {
    nameservers: [silent.nameserver, liar.nameserver, dns.nameserver].map(ns),
    timeout: 300,
  });
  assert.deepEqual(await withGood.addresses("app.test"), ["127.0.0.2"]);
});
