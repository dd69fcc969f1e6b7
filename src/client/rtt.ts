// Round-trip probes: to the server (ECHO, §3.9) and through the broker (a unicast to the client's own CID, §5.4).
import { performance } from 'node:perf_hooks';
import type { IoClient } from './client.js';
import { ReplyTimeoutError } from './errors.js';
import type { SignalMessage } from './events.js';

/** Round trips of one kind of probe, in milliseconds. */
export interface RttSummary {
  /** Probes answered. */
  count: number;
  /** Probes that got no answer in time. */
  lost: number;
  /** Milliseconds; NaN when nothing was answered. */
  min: number;
  median: number;
  p99: number;
  max: number;
}

/** What `measureRtt` returns. */
export interface RttReport {
  /** ECHO to the server and back. */
  echo: RttSummary;
  /** A unicast to the client's own CID, through the broker. */
  broker: RttSummary;
}

/** How `measureRtt` probes. */
export interface RttProbeOptions {
  /** Probes of each kind (default 10). */
  count?: number;
  /** Pause between probes (default 0 ms). */
  intervalMs?: number;
  /** Time limit for one probe (default: the client's callTimeoutMs). */
  timeoutMs?: number;
}

/** @internal Topic of the broker probe; the unicast comes back as `@` + this. */
export const RTT_TOPIC = 'iosig-rtt';

/** count, min, median, p99 (nearest rank) and max of `samples` in ms. */
export function summarize(samples: readonly number[], lost = 0): RttSummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { count: 0, lost, min: NaN, median: NaN, p99: NaN, max: NaN };
  const middle = Math.floor(n / 2);
  const median = n % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  const p99 = sorted[Math.max(0, Math.ceil(0.99 * n) - 1)]!;
  return { count: n, lost, min: sorted[0]!, median, p99, max: sorted[n - 1]! };
}

function pause(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Runs `probe` `count` times in a row; a timed-out probe counts as lost, any other error stops the run. */
async function collect(count: number, intervalMs: number, probe: (seq: number) => Promise<number>): Promise<RttSummary> {
  const samples: number[] = [];
  let lost = 0;
  for (let seq = 1; seq <= count; seq++) {
    try {
      samples.push(await probe(seq));
    } catch (err) {
      if (!(err instanceof ReplyTimeoutError)) throw err;
      lost++;
    }
    if (seq < count) await pause(intervalMs);
  }
  return summarize(samples, lost);
}

/** One unicast to our own CID, timed until it comes back. */
function brokerProbe(client: IoClient, seq: number, timeoutMs: number): Promise<number> {
  const expected = `${process.pid}.${seq}`;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const timer = setTimeout(() => {
      stop();
      reject(new ReplyTimeoutError(`broker probe ${seq}`, timeoutMs));
    }, timeoutMs);
    const stop = client.listen(`@${RTT_TOPIC}`, (message: SignalMessage) => {
      if (message.values[0] !== expected) return;
      clearTimeout(timer);
      stop();
      resolve(performance.now() - started);
    });
    if (!client.signal(`${client.cid}@${RTT_TOPIC}`, expected)) {
      clearTimeout(timer);
      stop();
      reject(new Error('broker probe: the signal could not be sent'));
    }
  });
}

/** Measures ECHO round trips, then unicast round trips through the broker. The client must be ready. */
export async function measureRtt(client: IoClient, options: RttProbeOptions = {}): Promise<RttReport> {
  const count = Math.max(1, options.count ?? 10);
  const intervalMs = Math.max(0, options.intervalMs ?? 0);
  const timeoutMs = options.timeoutMs ?? client.options.callTimeoutMs;
  const echo = await collect(count, intervalMs, async (seq) => {
    const started = performance.now();
    const text = `rtt${seq}`;
    await withLimit(client.echo(text), timeoutMs, `echo probe ${seq}`);
    return performance.now() - started;
  });
  const broker = await collect(count, intervalMs, (seq) => brokerProbe(client, seq, timeoutMs));
  return { echo, broker };
}

/** `promise`, or a ReplyTimeoutError after `ms` (the probe may have a shorter limit than the client). */
function withLimit<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReplyTimeoutError(what, ms)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}
