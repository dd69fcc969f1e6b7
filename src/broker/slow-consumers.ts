// Telling a stalled reader from a busy one. A receiver whose backlog (what it has not read yet) passes the soft
// limit (`maxBackpressure`; half of it in uWS's buffer for a WebSocket, see webSocketBufferLimit) is *behind*; that alone costs it nothing. The slow-consumer policy applies when it
// stays behind for longer than the write deadline, at once when its backlog passes the hard cap (`maxBacklog`),
// and to the most-behind receivers first when the backlogs of all receivers behind pass the global budget
// (`maxBacklogTotal`). A reader busy for a moment catches up and is forgotten; one that stopped reading is not.
// Only receivers behind are watched (no timer walks every connection), and verdicts that close connections are
// carried out a few per event-loop turn, so a thousand slow consumers at once never stall the broker.
import type { SlowConsumerPolicy } from '../policies.js';
import type { Clock, Timer } from '../clock.js';

import type { VerdictReason } from '../metrics/stats.js';
import type { SlowConsumerWatch, Watched } from '../connection/slow-consumer.js';
import { ThrottledLog } from '../logging/throttled-log.js';

/** The rule's broker-wide part (each receiver's own soft limit and hard cap come with it). */
export interface SlowConsumerRule {
  /** What all receivers behind may hold together before the most-behind get the policy. */
  readonly maxBacklogTotal: number;
  /** How long a receiver may stay behind (ms); 0: the policy applies as soon as it is behind. */
  readonly writeDeadline: number;
  readonly slowConsumer: SlowConsumerPolicy;
}

/** Verdicts that close connections carried out per event-loop turn; the rest wait for the next turn. */
export const CLOSES_PER_TURN = 64;

export class SlowConsumers implements SlowConsumerWatch {
  /** One line a second about slow consumers closed, however many go at once. */
  private readonly closeLog: ThrottledLog;
  /** Receivers behind, with the time they fell behind. */
  private readonly behindSince = new Map<Watched, number>();
  private timer: Timer | null = null;
  private readonly closing: (() => void)[] = [];
  private closingScheduled = false;
  /** Verdicts by reason, and the latest sum of backlogs of receivers behind (a gauge). */
  readonly verdicts: Record<VerdictReason, number> = { deadline: 0, backlog: 0, budget: 0 };
  backlogBytes = 0;

  constructor(
    private readonly rule: SlowConsumerRule,
    private readonly clock: Clock,
    log: (line: string) => void,
    private readonly tickMs = Math.max(50, Math.min(1000, Math.floor(rule.writeDeadline / 4) || 250)),
  ) {
    this.closeLog = new ThrottledLog(log);
  }

  /** Receivers behind right now. */
  get behind(): number {
    return this.behindSince.size;
  }

  /** A receiver's backlog passed the soft limit (links report it on a send or after a turn; repeats are cheap). */
  fellBehind(receiver: Watched): void {
    if (this.behindSince.has(receiver) || receiver.closed) return;
    if (this.rule.writeDeadline === 0) {
      this.verdict(receiver, 'deadline');
      return;
    }
    this.behindSince.set(receiver, this.clock.now());
    this.timer ??= this.clock.every(this.tickMs, () => this.check());
  }

  /** A receiver's backlog passed the hard cap: the policy at once. */
  overCap(receiver: Watched): void {
    if (receiver.closed) return;
    this.behindSince.delete(receiver);
    this.verdict(receiver, 'backlog');
  }

  /** A receiver went away. */
  forget(receiver: Watched): void {
    this.behindSince.delete(receiver);
  }

  /** Every tick while someone is behind: who caught up, who ran out of time, and the global budget. */
  check(): void {
    const now = this.clock.now();
    const { writeDeadline, maxBacklogTotal } = this.rule;
    let total = 0;
    let standing: [Watched, number][] | null = null;
    for (const [receiver, since] of this.behindSince) {
      const held = receiver.closed ? 0 : receiver.backlog();
      const { soft, hard } = receiver.backlogLimits;
      if (held <= soft) {
        this.behindSince.delete(receiver);
        continue;
      }
      if (held > hard || now - since >= writeDeadline) {
        this.behindSince.delete(receiver);
        this.verdict(receiver, held > hard ? 'backlog' : 'deadline');
        continue;
      }
      total += held;
      (standing ??= []).push([receiver, held]);
    }
    if (standing && total > maxBacklogTotal) {
      // Over the global budget: the receivers holding most give way first.
      standing.sort((a, b) => b[1] - a[1]);
      for (const [receiver, held] of standing) {
        if (total <= maxBacklogTotal) break;
        this.behindSince.delete(receiver);
        this.verdict(receiver, 'budget');
        total -= held;
      }
    }
    this.backlogBytes = total;
    if (this.behindSince.size === 0) this.stop();
  }

  private verdict(receiver: Watched, reason: VerdictReason): void {
    if (receiver.overLimit(this.rule.slowConsumer)) this.verdicts[reason]++;
  }

  /** Runs a close at most CLOSES_PER_TURN per turn, so a verdict over many receivers spreads over turns. */
  closeSoon(line: string, close: () => void): void {
    this.closeLog.write(line);
    this.closing.push(close);
    if (this.closingScheduled) return;
    this.closingScheduled = true;
    setImmediate(() => this.closeSome());
  }

  private closeSome(): void {
    const batch = this.closing.splice(0, CLOSES_PER_TURN);
    for (const close of batch) close();
    if (this.closing.length > 0) setImmediate(() => this.closeSome());
    else this.closingScheduled = false;
  }

  private stop(): void {
    this.timer?.cancel();
    this.timer = null;
    this.backlogBytes = 0;
  }

  close(): void {
    this.stop();
    this.behindSince.clear();
  }
}
