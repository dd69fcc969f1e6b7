// Size and rate quotas (§8.2) on what a connection receives: the raw size, before decryption.
import { OVER_SIZE_MSG } from '../protocol/messages.js';
import type { Session } from './session.js';
import { TokenBucket } from '../guard/token-bucket.js';
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
  private bucket: TokenBucket | null = null;
  violations = 0;

  /** The quota level changed: the rate starts afresh. */
  reset(): void {
    this.bucket = null;
  }

  /**
   * True when the message must be dropped (and the connection may be closing). `size` is judged by the size
   * quota, `total` (several messages of one frame) by the rate quota.
   */
  over(s: Session, size: number, total = size): boolean {
    const { useQuota } = s.port.policy;
    if (useQuota.signalSize && size > s.quota.signalSize) {
      // OVER_SIZE goes out before a disconnect (§3.11), so the client learns why.
      s.port.stats.overSize++;
      s.channel.sendPlain(OVER_SIZE_MSG);
      this.violation(s, `over size quota (${size} > ${s.quota.signalSize} bytes)`);
      return true;
    }
    if (useQuota.trafficRate) {
      const now = s.port.clock.now();
      this.bucket ??= new TokenBucket(s.quota.trafficRate, now);
      if (!this.bucket.take(total, now)) {
        this.violation(s, `over traffic rate quota (${s.quota.trafficRate} bytes/s)`);
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
