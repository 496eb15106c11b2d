import assert from "node:assert/strict";
import { ownAddresses, ownListener } from "../../lib/net/own_address.ts";
import type { Addr } from "../../lib/net/address.ts";

const tcp = (hostname: string, port: number): Addr => ({ transport: "tcp", hostname, port });
const reached = (ip: string, port: number, own: Addr[]) => ownListener({ hostname: ip, port }, own);

Deno.test("ownListener: a listener on an unspecified address or a name is reached by every loopback IP", () => {
  for (const bind of ["0.0.0.0", "::", "localhost"]) {
    const own = [tcp(bind, 8020)];
    for (const ip of ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::"]) {
      assert.equal(
        reached(ip, 8020, own),
        bind.includes(":") ? `[${bind}]:8020` : `${bind}:8020`,
        `${bind} ${ip}`,
      );
    }
    assert.equal(reached("127.0.0.1", 8021, own), undefined, "another port");
    assert.equal(reached("10.0.0.5", 8020, own), undefined, "another host's address");
  }
});

Deno.test("ownListener: a listener bound to one IP is reached by that IP only", () => {
  const own = [tcp("127.0.0.1", 8020), tcp("10.0.0.5", 443), tcp("2001:db8::1", 443)];
  assert.equal(reached("127.0.0.1", 8020, own), "127.0.0.1:8020");
  assert.equal(reached("::ffff:127.0.0.1", 8020, own), "127.0.0.1:8020");
  assert.equal(reached("127.0.0.2", 8020, own), undefined);
  assert.equal(reached("10.0.0.5", 443, own), "10.0.0.5:443");
  assert.equal(
    reached("127.0.0.1", 443, own),
    undefined,
    "a sidecar on loopback is not the 10.0.0.5 listener",
  );
  assert.equal(reached("2001:db8:0:0::1", 443, own), "[2001:db8::1]:443");
  assert.equal(reached("2001:db8::2", 443, own), undefined);
});

Deno.test("ownListener: names, unix sockets and no listeners reach nothing", () => {
  assert.equal(reached("not-an-ip", 8020, [tcp("0.0.0.0", 8020)]), undefined);
  assert.equal(reached("127.0.0.1", 8020, [{ transport: "unix", path: "/run/wsgate.sock" }]), undefined);
  assert.equal(reached("127.0.0.1", 8020, []), undefined);
});

Deno.test("ownAddresses: bound listeners, configured ones and the admin listener", () => {
  const config = {
    servers: [{ listen: [tcp("127.0.0.1", 0), tcp("0.0.0.0", 8443)] }],
    admin: { listen: tcp("127.0.0.1", 9090) },
  };
  assert.deepEqual(ownAddresses(config, [tcp("127.0.0.1", 41000)]), [
    tcp("127.0.0.1", 41000),
    tcp("127.0.0.1", 0),
    tcp("0.0.0.0", 8443),
    tcp("127.0.0.1", 9090),
  ]);
  assert.deepEqual(ownAddresses({ servers: [] }, []), []);
});
