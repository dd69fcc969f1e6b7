// The budgets of sockets still opening (issue 16 item 4): at most `perAddress` from one client address and
// `total` in all. A budget in all that simply refused newcomers once full would be held by whoever fills it
// first: twenty addresses with ten silent sockets each, reopened as they are closed, kept every other client of
// a 1024-descriptor broker out of both TLS ports. So when it is full a newcomer takes the place of the oldest
// socket of the address holding the most, as long as that address holds at least two more than the newcomer's
// would: an address can then hold the places of others only while it opens no more than they do. Addresses are
// counted as the login throttle counts them: one IPv4 address, one IPv6 /64 (a host can own a whole /64).
import { throttleKey } from './login-guard.js';

/** One socket still opening (its address's key: openingKey); `evictOpening` closes it to make room for a newcomer. */
export interface Opening {
  readonly key: string;
  evictOpening(): void;
}

/** The key an address is budgeted under: one IPv4 address, one IPv6 /64. */
export function openingKey(ip: string): string {
  return throttleKey(ip);
}

export class OpeningBudget {
  /** The sockets still opening of each address (its key), oldest first. */
  private readonly byKey = new Map<string, Set<Opening>>();
  /** Addresses by how many sockets they hold: count → keys, so the biggest holder is found without a scan. */
  private readonly byCount = new Map<number, Set<string>>();
  private most = 0;
  private count = 0;

  constructor(
    /** Most sockets still opening in all; 0 = no cap. */
    private readonly total: number,
    /** Most from one address; 0 = no cap. */
    private readonly perAddress: number,
  ) {}

  /** Sockets still opening (a gauge). */
  get size(): number {
    return this.count;
  }

  /** Why a socket from `ip` would not get a place now; null when it would (possibly by evicting another). */
  check(ip: string): 'handshakes' | 'handshakes_address' | null {
    const held = this.byKey.get(throttleKey(ip))?.size ?? 0;
    if (this.total > 0 && this.count >= this.total && this.most < held + 2) return 'handshakes';
    if (this.perAddress > 0 && held >= this.perAddress) return 'handshakes_address';
    return null;
  }

  /**
   * Takes a place for `entry` (after check): when the budget is full, the oldest socket of the biggest holder is
   * evicted first (its `evictOpening` is called, and its place is free at once). `leave` gives it back.
   */
  enter(entry: Opening): void {
    if (this.total > 0 && this.count >= this.total) this.evictOne();
    this.add(entry);
  }

  /** `entry`'s place goes back (idempotent: an evicted entry has left already). */
  leave(entry: Opening): void {
    this.remove(entry);
  }

  private evictOne(): void {
    const victimKey = this.byCount.get(this.most)?.values().next().value;
    if (victimKey === undefined) return;
    const oldest = this.byKey.get(victimKey)!.values().next().value!;
    this.remove(oldest);
    oldest.evictOpening();
  }

  private add(entry: Opening): void {
    let set = this.byKey.get(entry.key);
    if (!set) this.byKey.set(entry.key, (set = new Set()));
    this.move(entry.key, set.size, set.size + 1);
    set.add(entry);
    this.count++;
  }

  private remove(entry: Opening): void {
    const set = this.byKey.get(entry.key);
    if (!set?.delete(entry)) return;
    this.count--;
    this.move(entry.key, set.size + 1, set.size);
    if (set.size === 0) this.byKey.delete(entry.key);
  }

  /** An address's count went from `from` to `to`: its bucket changes, and the biggest count with it. */
  private move(key: string, from: number, to: number): void {
    if (from > 0) {
      const bucket = this.byCount.get(from)!;
      bucket.delete(key);
      if (bucket.size === 0) this.byCount.delete(from);
    }
    if (to > 0) {
      let bucket = this.byCount.get(to);
      if (!bucket) this.byCount.set(to, (bucket = new Set()));
      bucket.add(key);
    }
    if (to > this.most) this.most = to;
    while (this.most > 0 && !this.byCount.has(this.most)) this.most--;
  }
}
