/** The http scenario's reading of wrk's summary (wrk 4.1, Debian 12). */
import assert from "node:assert/strict";
import { parseWrk } from "../load/http.ts";

const CLEAN = `Running 1s test @ http://127.0.0.1:18099/
  1 threads and 5 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.25ms   19.68ms 122.11ms   93.38%
    Req/Sec    16.04k    13.23k   33.93k    66.67%
  14488 requests in 1.00s, 1.60MB read
Requests/sec:  14430.35
Transfer/sec:      1.60MB
`;

Deno.test("parseWrk: requests, seconds, no failures", () => {
  assert.deepEqual(parseWrk(CLEAN), { requests: 14488, seconds: 1, failures: 0 });
});

Deno.test("parseWrk: socket errors and non-2xx answers are failures; ms and m durations", () => {
  const failing = CLEAN.replace("14488 requests in 1.00s", "300 requests in 500.00ms") +
    "  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx or 3xx responses: 5\n";
  assert.deepEqual(parseWrk(failing), { requests: 300, seconds: 0.5, failures: 15 });
  assert.equal(parseWrk(CLEAN.replace("in 1.00s", "in 1.50m")).seconds, 90);
});

Deno.test("parseWrk: no summary (wrk failed) is an error, not zero", () => {
  assert.throws(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused"), /no wrk summary/);
});
