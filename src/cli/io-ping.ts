// `io ping` and `.rtt`: round-trip statistics, and an optional periodic heartbeat whose own
// round trip through the broker is timed (seed 003: "Heartbeat: [timestamp] - [num]").
import { performance } from 'node:perf_hooks';
import { measureRtt, summarize, type RttReport, type RttSummary } from '../client/rtt.js';
import type { SignalMessage } from '../client/index.js';
import type { Output } from './io-output.js';
import type { NamedConnection, Session } from './io-session.js';

export interface PingOptions {
  /** Probes of each kind; with a heartbeat, the number of beats (undefined = until interrupted). */
  count?: number;
  intervalMs: number;
  /** Seconds between heartbeats; undefined = no heartbeat. */
  heartbeatSeconds?: number;
  channel: string;
  readyWaitMs: number;
  timeoutMs: number;
}

const ms = (value: number): string => (Number.isNaN(value) ? '-' : value.toFixed(3));

const LABEL_WIDTH = 18;

export function rttHeader(): string {
  return `${'probe'.padEnd(LABEL_WIDTH)} ${'count'.padStart(5)} ${'lost'.padStart(4)} ${'min'.padStart(8)} ${'median'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}  (ms)`;
}

export function rttRow(label: string, s: RttSummary): string {
  return `${label.padEnd(LABEL_WIDTH)} ${String(s.count).padStart(5)} ${String(s.lost).padStart(4)} ${ms(s.min).padStart(8)} ${ms(s.median).padStart(8)} ${ms(s.p99).padStart(8)} ${ms(s.max).padStart(8)}`;
}

function printSummary(output: Output, source: string, probe: string, label: string, summary: RttSummary): void {
  output.print({ source, event: 'rtt', text: rttRow(label, summary), fields: { probe, ...summary } });
}

export function printRttReport(output: Output, source: string, report: RttReport): void {
  output.print({ source, event: 'rtt_header', text: rttHeader(), colour: 'gray', fields: {} });
  printSummary(output, source, 'echo', 'echo (server)', report.echo);
  printSummary(output, source, 'broker', 'unicast (broker)', report.broker);
}

/** Publishes a heartbeat every period on `channel` and times each one until it comes back to us. */
async function heartbeat(output: Output, connection: NamedConnection, options: PingOptions, stop: AbortSignal): Promise<void> {
  const { client, name: source } = connection;
  const periodMs = Math.max(1, Math.round(options.heartbeatSeconds! * 1000));
  const pending = new Map<string, { seq: number; sentAt: number }>();
  const samples: number[] = [];
  let lost = 0;
  const onBeat = (message: SignalMessage): void => {
    const text = String(message.values[0]);
    const mine = pending.get(text);
    if (!mine) {
      output.print({ source, event: 'heartbeat_seen', text: `heartbeat seen: ${text}`, fields: { text } });
      return;
    }
    pending.delete(text);
    const roundTrip = performance.now() - mine.sentAt;
    samples.push(roundTrip);
    output.print({ source, event: 'heartbeat', text: `heartbeat ${mine.seq}: back after ${ms(roundTrip)} ms`, fields: { seq: mine.seq, ms: roundTrip, text } });
  };
  const unlisten = client.listen(options.channel, onBeat);
  try {
    for (let seq = 1; options.count === undefined || seq <= options.count; seq++) {
      if (stop.aborted) break;
      const text = `Heartbeat: ${new Date().toISOString()} - ${seq}`;
      pending.set(text, { seq, sentAt: performance.now() });
      if (!client.signal(options.channel, text)) {
        pending.delete(text);
        lost++;
        output.print({ source, event: 'heartbeat_lost', text: `heartbeat ${seq}: not sent (${client.state})`, fields: { seq }, colour: 'yellow' });
      }
      const last = options.count !== undefined && seq === options.count;
      await sleep(last ? Math.min(periodMs, options.timeoutMs) : periodMs, stop);
    }
  } finally {
    unlisten();
  }
  lost += pending.size;
  output.print({ source, event: 'rtt_header', text: rttHeader(), colour: 'gray', fields: {} });
  printSummary(output, source, 'heartbeat', `heartbeat (${options.channel})`, summarize(samples, lost));
}

function sleep(msToWait: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, msToWait);
    stop.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Runs the probes on every connection; returns the exit code (1 when no connection became ready). */
export async function runPing(session: Session, output: Output, options: PingOptions, stop: AbortSignal): Promise<number> {
  const connections = session.select();
  const ready = await Promise.all(
    connections.map((c) =>
      c.client.whenReady(options.readyWaitMs).then(
        () => true,
        () => {
          output.print({ source: c.name, event: 'error', text: `error: ${c.client.url} not ready after ${options.readyWaitMs} ms`, error: true, colour: 'red' });
          return false;
        },
      ),
    ),
  );
  const live = connections.filter((_, i) => ready[i]);
  if (live.length === 0) return 1;
  session.showMessages = false;
  if (options.heartbeatSeconds === undefined) {
    await Promise.all(
      live.map(async (c) => {
        c.quiet++;
        try {
          const report = await measureRtt(c.client, { count: options.count ?? 10, intervalMs: options.intervalMs, timeoutMs: options.timeoutMs });
          printRttReport(output, c.name, report);
        } finally {
          c.quiet--;
        }
      }),
    );
    return 0;
  }
  await Promise.all(live.map((c) => heartbeat(output, c, options, stop)));
  return 0;
}
