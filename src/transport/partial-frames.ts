// The budget of large CongSocket frames still arriving (issue 16, memory bounds). A decoder allocates a large
// frame's body when its header arrives; each connection is bounded by the message size limit, but nothing bounded
// them together: fifty anonymous connections each sending a 20 MiB frame less its last byte held over 500 MB. Here
// every such body is counted before it is allocated, against a total for the process and a share per client
// address, so one address cannot take the budget from the others. Over either, the connection is closed.
import { throttleKey } from '../guard/login-guard.js';
import type { Stats } from '../metrics/stats.js';

export class PartialFrames {
  private held = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly stats: Stats,
    /** All bodies together (`--max-inbound-total`). */
    readonly total: number,
    /** One client address (one IPv6 /64): the larger of a quarter of the total and one message, within the total. */
    readonly perAddress: number,
  ) {}

  static of(stats: Stats, total: number, maxMessageSize: number): PartialFrames {
    return new PartialFrames(stats, total, Math.min(total, Math.max(Math.floor(total / 4), maxMessageSize)));
  }

  /** The key an address is counted under. */
  keyOf(ip: string): string {
    return throttleKey(ip);
  }

  take(key: string, bytes: number): boolean {
    const mine = this.byAddress.get(key) ?? 0;
    if (this.held + bytes > this.total || mine + bytes > this.perAddress) {
      this.stats.inboundRefused++;
      return false;
    }
    this.held += bytes;
    this.stats.inboundPartialBytes += bytes;
    this.byAddress.set(key, mine + bytes);
    return true;
  }

  give(key: string, bytes: number): void {
    this.held -= bytes;
    this.stats.inboundPartialBytes -= bytes;
    const left = (this.byAddress.get(key) ?? 0) - bytes;
    if (left > 0) this.byAddress.set(key, left);
    else this.byAddress.delete(key);
  }

  /** Bytes held by bodies still arriving (a gauge). */
  get bytes(): number {
    return this.held;
  }
}
