// Size and rate quotas (§8.2) on what a connection receives: the raw size, before decryption.
import { OVER_SIZE_MSG } from '../protocol/messages.js';
import type { Session } from './session.js';
import { SessionRate } from '../guard/rate-limits.js';
import type { FrameMessages } from '../transport/link.js';

/** The sizes the quotas judge a plain device's frame by: its largest message (size) and their sum (rate). */
export function frameSizes(frame: FrameMessages): { largest: number; total: number } {
  let largest = 0;
  let total = 0;
  for (let i = 0; i < frame.count; i++) {
    const size = frame.size(i);
    largest = Math.max(largest, size);
    total += size;
  }
  return { largest, total };
}

/** Made on a connection's first message when any quota switch is on. */
export class QuotaCheck {
  /** Its message and byte buckets, and the rules' generation they were made under (a reload makes them again). */
  private rate: SessionRate | null = null;
  private generation = -1;
  violations = 0;

  /** The quota level changed: the rate starts afresh. */
  reset(): void {
    this.rate = null;
  }

  /**
   * True when the message must be dropped (and the connection may be closing). `size` is judged by the size
   * quota, `total` (several messages of one frame) and `count` by the rates.
   */
  over(s: Session, size: number, total = size, count = 1): boolean {
    const { useQuota } = s.port.policy;
    if (useQuota.signalSize && size > s.quota.signalSize) {
      // OVER_SIZE goes out before a disconnect (§3.11), so the client learns why.
      s.port.stats.overSize++;
      s.channel.sendPlain(OVER_SIZE_MSG);
      this.violation(s, `over size quota (${size} > ${s.quota.signalSize} bytes)`);
      return true;
    }
    if (useQuota.trafficRate) {
      // Its rates (an ACL rate line, its level's --level-rate, else the quota table's byte rate), made again when
      // its level or the rules change.
      const now = s.port.clock.now();
      const generation = s.port.rateGeneration;
      if (this.rate === null || this.generation !== generation) {
        this.rate = new SessionRate(s.port.ratesOf(s), now);
        this.generation = generation;
      }
      const verdict = this.rate.admit(total, now, count);
      if (verdict !== 'ok') {
        const { messages, bytes } = this.rate.rates;
        const what = verdict === 'messages' ? `over its message rate (${messages!.text})` : `over traffic rate quota (${bytes!.perSecond} bytes/s)`;
        this.violation(s, what);
        return true;
      }
    }
    return false;
  }

  private violation(s: Session, what: string): void {
    this.violations++;
    s.port.stats.quotaViolations++;
    if (s.port.policy.useQuota.disconnect) s.close(what);
  }
}
