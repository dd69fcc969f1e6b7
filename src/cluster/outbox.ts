// The bus's outbox: what a node sends in one event-loop turn, and the rules for what it may send at all.
// - Admission: nothing while the link is down; nothing past the in-flight bound (envelopes and bytes handed to the
//   link and not yet acknowledged: the link's write buffer and what Redis has not answered); data past the rate
//   budget and its per-publisher fair share (bus-budget.ts). Each refusal is dropped at once and counted by reason.
// - Batching: everything a turn sends goes to the link in one call (one pipeline, one write), and a run of data
//   envelopes to one channel travels as one message (a bundle of at most BUNDLE_ENVELOPES / BUNDLE_BYTES), so a
//   burst costs Redis, the sender and the receivers per turn rather than per envelope. Order is kept.
// - Sequencing: each data message carries the number of its first envelope in its sender's stream on that channel
//   (sequences.ts), so receivers count what never arrived. A few bytes per message, nothing per envelope.
import type { OutgoingMessage } from './links.js';
import type { BusStats, DropReason } from '../metrics/bus-stats.js';
import { BusBudget } from './bus-budget.js';
import { ChannelSequences } from './sequences.js';
import { bundleEnvelopes } from './envelope.js';

/** Data envelopes per Redis message at most (a run to one channel in one turn travels as one message). */
const BUNDLE_ENVELOPES = 256;
/** Bytes per bundled Redis message: past this a run is split (one envelope may still be larger alone). */
const BUNDLE_BYTES = 64 * 1024;

export interface OutboxLimits {
  /** Envelopes handed to the link and not yet acknowledged; past this, sends are dropped (`in_flight`). */
  maxInFlight: number;
  /** The same in bytes: the link's write buffer plus what Redis has not answered yet. */
  maxInFlightBytes: number;
  /** Data bytes per second this node may send over the bus (bus-budget.ts); 0 = no budget. */
  bytesPerSecond: number;
}

/** What the outbox needs of the link (the Redis links, or any other engine). */
export interface OutboxLink {
  readonly isUp: boolean;
  /**
   * True for an engine in this process (a memory hub), where a send costs no system call: what a job sends goes
   * out when the job ends (a microtask), so a cross-node hop adds no turn of the event loop. Otherwise (Redis, IPC)
   * everything a turn sends goes out together at the end of the turn.
   */
  readonly sendsPerJob?: boolean;
  /** Sends several messages, in order; `done` gets, per message, how many subscriptions got it (null: failed). */
  publishAll(messages: readonly OutgoingMessage[], done: (receivers: (number | null)[]) => void): void;
}

/** An envelope (encoded at once) waiting for the end of the turn; `done` gets the receivers Redis reported (0: dropped). */
interface Outgoing {
  channel: string;
  bytes: Buffer;
  data: boolean;
  own: boolean;
  done: ((receivers: number) => void) | null;
}

export class Outbox {
  private queue: Outgoing[] = [];
  private flushScheduled = false;
  /** The budget's clock was read this turn. */
  private ticked = false;
  private inFlight = 0;
  private inFlightBytes = 0;
  private readonly sequences = new ChannelSequences();
  private readonly budget: BusBudget | null;

  constructor(
    private readonly link: OutboxLink,
    private readonly limits: OutboxLimits,
    private readonly stats: BusStats,
    now?: () => number,
  ) {
    this.budget = limits.bytesPerSecond > 0 ? new BusBudget(limits.bytesPerSecond, now) : null;
  }

  /**
   * Why an envelope cannot be sent now, or null when it can. A data envelope (`data`) of `size` signal bytes is
   * charged to the budget and to `publisher`'s share (an owner key: a client address or a device; '' for the
   * server itself).
   */
  admit(data: boolean, size: number, publisher: string): DropReason | null {
    if (!this.link.isUp) return 'down';
    if (this.inFlight >= this.limits.maxInFlight || this.inFlightBytes >= this.limits.maxInFlightBytes) return 'in_flight';
    if (!data || !this.budget) return null;
    if (!this.ticked) {
      this.ticked = true;
      this.budget.tick();
      this.schedule();
    }
    return this.budget.take(size, publisher);
  }

  /** Counts a refused envelope (own probes are not losses). */
  drop(reason: DropReason, own: boolean): void {
    if (own) return;
    this.stats.dropped++;
    this.stats.droppedBy[reason]++;
  }

  /** Queues an admitted envelope for the end of this turn. */
  push(channel: string, bytes: Buffer, data: boolean, own: boolean, done: ((receivers: number) => void) | null): void {
    this.inFlight++;
    this.inFlightBytes += bytes.length;
    this.queue.push({ channel, bytes, data, own, done });
    this.schedule();
  }

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.link.sendsPerJob) queueMicrotask(this.flush);
    else setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.ticked = false;
    const box = this.queue;
    if (box.length === 0) return;
    this.queue = [];
    /** Where each message's run starts in `box`; the last entry is box.length. */
    const starts: number[] = [];
    const messages: OutgoingMessage[] = [];
    let encoded: Buffer[] | null = null;
    for (let i = 0; i < box.length; ) {
      const first = box[i]!;
      let end = i + 1;
      if (!first.data) {
        messages.push({ channel: first.channel, payload: first.bytes });
      } else {
        let bytes = first.bytes.length;
        while (end < box.length && end - i < BUNDLE_ENVELOPES && bytes < BUNDLE_BYTES) {
          const next = box[end]!;
          if (!next.data || next.channel !== first.channel) break;
          bytes += next.bytes.length;
          end++;
        }
        encoded ??= box.map((o) => o.bytes);
        const seq = this.sequences.take(first.channel, end - i);
        messages.push({ channel: first.channel, payload: bundleEnvelopes(encoded, seq, i, end) });
        this.stats.redisMessages++;
      }
      starts.push(i);
      i = end;
    }
    starts.push(box.length);
    this.link.publishAll(messages, (receivers) => {
      for (let m = 0; m < messages.length; m++) this.sent(box, starts[m]!, starts[m + 1]!, receivers[m] ?? null);
    });
  };

  /** The link's answer for the message made of box[from..to): `receivers` subscriptions got it, or null when it failed. */
  private sent(box: Outgoing[], from: number, to: number, receivers: number | null): void {
    if (receivers !== null && box[from]!.data) this.stats.redisMessagesOut += receivers;
    for (let i = from; i < to; i++) {
      const o = box[i]!;
      this.inFlight--;
      this.inFlightBytes -= o.bytes.length;
      if (receivers === null) this.drop('refused', o.own);
      else if (o.data) this.stats.redisDeliveries += receivers;
      o.done?.(receivers ?? 0);
    }
  }
}
