/**
 * Traffic and metrics tools for the operations tests (reload, shutdown, workers, admin):
 * tunnels that echo numbered messages without pause, a loop of fresh handshakes, and the
 * Prometheus text read with the real npm parser.
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { RawWs, type WsClient } from "./_clients.ts";
import assert from "node:assert/strict";
import { eventually, type Gateway } from "./_harness.ts";
import { Opcode, text } from "./_wire.ts";

/** One message out, its echo back. */
export type RoundTrip = (message: string) => Promise<string>;

export const viaWsClient = (client: WsClient): RoundTrip => async (message) => {
  client.send(message);
  return String(await client.next(5_000));
};

export const viaRawWs = (client: RawWs): RoundTrip => async (message) => {
  await client.sendText(message);
  const frame = await client.next(5_000);
  if (frame === null) throw new Error("EOF instead of an echo");
  if (frame.opcode !== Opcode.text) throw new Error(`frame with opcode ${frame.opcode} instead of an echo`);
  return text(frame.payload);
};

/**
 * Sends `tag#0`, waits for its echo, sends `tag#1`, ... until stopped. A message that does not
 * come back, or comes back changed or out of turn, ends the loop and is kept in `failure`.
 */
export class EchoLoop {
  readonly tag: string;
  /** Messages sent and echoed back intact. */
  count = 0;
  failure: Error | undefined;
  #running = true;
  readonly #done: Promise<void>;

  constructor(tag: string, roundTrip: RoundTrip) {
    this.tag = tag;
    this.#done = this.#run(roundTrip);
  }

  async #run(roundTrip: RoundTrip): Promise<void> {
    while (this.#running) {
      const message = `${this.tag}#${this.count}`;
      try {
        const back = await roundTrip(message);
        if (back !== message) throw new Error(`sent ${message}, got ${back}`);
      } catch (err) {
        this.failure = new Error(`${this.tag}: ${(err as Error).message}`);
        return;
      }
      this.count++;
    }
  }

  /** Ends the loop after the round trip in flight; resolves with the count. */
  async stop(): Promise<number> {
    this.#running = false;
    await this.#done;
    return this.count;
  }
}

/** Waits until every loop did `more` round trips beyond where it is now; throws on a failure. */
export async function progress(loops: readonly EchoLoop[], more: number, timeoutMs = 5_000): Promise<void> {
  const targets = loops.map((loop) => loop.count + more);
  await eventually(
    () => loops.some((loop) => loop.failure) || loops.every((loop, i) => loop.count >= targets[i]!),
    timeoutMs,
    `${loops.length} echo loops each ${more} more round trips`,
  );
  const failed = loops.find((loop) => loop.failure);
  if (failed) throw failed.failure;
}

/** Opens a fresh tunnel (handshake, one echo, close) after another until stopped, counting outcomes. */
export class ConnectLoop {
  ok = 0;
  refused = 0;
  /** Anything else that went wrong: another status, a lost echo, a reset. */
  errors: string[] = [];
  #running = true;
  readonly #done: Promise<void>;

  constructor(port: number) {
    this.#done = this.#run(port);
  }

  async #run(port: number): Promise<void> {
    for (let i = 0; this.#running; i++) {
      try {
        await using client = await RawWs.open(port, { path: `/fresh/${i}` });
        if (client.response.status !== 101) throw new Error(`status ${client.response.status}`);
        const back = await viaRawWs(client)(`fresh#${i}`);
        if (back !== `fresh#${i}`) throw new Error(`echo ${back}`);
        this.ok++;
      } catch (err) {
        if (err instanceof Deno.errors.ConnectionRefused) this.refused++;
        else this.errors.push(`#${i}: ${(err as Error).message}`);
      }
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

/** What parse-prometheus-text-format returns (it ships no types); values stay strings. */
export interface PromFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

/** Parses exposition text with the npm parser, which throws on anything malformed. */
export function parseMetrics(exposition: string): PromFamily[] {
  return (parsePrometheusTextFormat as (t: string) => PromFamily[])(exposition);
}

/** GET /metrics from the admin listener: a 200 in the Prometheus text format, parsed. */
export async function scrapeMetrics(gw: Gateway): Promise<PromFamily[]> {
  const answer = await gw.admin("GET", "/metrics");
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseMetrics(text(answer.body));
}

/** The value of the counter or gauge series `name` whose labels are exactly `labels`. */
export function metric(families: PromFamily[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  const same = (l: Record<string, string> = {}) =>
    Object.keys(l).length === Object.keys(labels).length &&
    Object.entries(labels).every(([k, v]) => l[k] === v);
  const sample = family?.metrics.find((m) => same(m.labels));
  if (sample?.value === undefined) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return Number(sample.value);
}
