// Shares of the broker's global state caps (issue 16 item 7). One client address must not be able to fill a cap
// that everybody needs: 10 anonymous connections × 10 000 subscriptions used to fill the 100 000-channel cap in
// 2.3 s, after which nobody could join a new channel. Each cap a client can fill (channels, retained bytes,
// retained channels) is therefore split three ways:
//   - an owner (one client address for anonymous sessions — an IPv4 address or an IPv6 /64, the login throttle's
//     unit, behind trusted proxies the forwarded one — or one device id once logged in) holds at most `share` of it;
//   - the last `reserve` of it is for logged-in sessions only, so devices with keys can always join and retain;
//   - the admin level and the server itself are charged nothing per owner (only the global total).
// Whatever an owner holds is charged to it until it is given back (the channel goes away, the value is replaced),
// so leaving or reconnecting does not reset a share. The checks cost one Map lookup, and only when something new
// is created (a channel's first local subscriber, a retained value), never on a join of an existing channel.
import type { ShareLimits } from '../policies.js';

/** Who a holding is charged to: `a:<address unit>` (anonymous) or `d:<device id>` (logged in); null = nobody. */
export type ShareOwner = string | null;

/** What the router needs of a session to charge it. */
export interface ShareHolder {
  /** Its owner key (null for the admin level: exempt from shares, not from the global cap). */
  readonly shareOwner: ShareOwner;
  /** Logged in: may use the reserve. */
  readonly authorized: boolean;
}

/** The server itself and other nodes' values: counted in the total, charged to nobody, allowed into the reserve. */
export const SERVER_HOLDER: ShareHolder = { shareOwner: null, authorized: true };

export const DEFAULT_SHARE_LIMITS: ShareLimits = { share: 0.1, reserve: 0.1 };

/** `cap`: the global cap is full (for anonymous sessions: all but the reserve); `share`: the owner's share is. */
export type ShareRefusal = 'cap' | 'share';

/** One global cap, with per-owner holdings and a reserve for logged-in sessions. */
export class SharedCap {
  /** Units held in all. */
  used = 0;
  /** Units held by owners (only owners that hold something are kept, so this is bounded by `used`). */
  private readonly held = new Map<string, number>();
  /** What anonymous sessions may fill together: the cap less the reserve. */
  readonly anonymousCap: number;
  /** What one owner may hold. */
  readonly perOwner: number;

  constructor(
    readonly cap: number,
    limits: ShareLimits,
  ) {
    this.anonymousCap = cap - Math.floor(cap * limits.reserve);
    this.perOwner = limits.share >= 1 ? cap : Math.max(1, Math.floor(cap * limits.share));
  }

  /**
   * Why `amount` more units for `holder` do not fit — after `released` units go back in all, `releasedOwn` of them
   * the holder's own (an entry it replaces) — or null when they do. Only growth is checked: an update that does
   * not add to the total (or to the holder's share) always fits, so a full cap still takes updates (Q24).
   */
  refusal(holder: ShareHolder, amount: number, released = 0, releasedOwn = 0): ShareRefusal | null {
    const limit = holder.authorized ? this.cap : this.anonymousCap;
    if (amount > released && this.used - released + amount > limit) return 'cap';
    const owner = holder.shareOwner;
    if (owner !== null && amount > releasedOwn && this.heldBy(owner) - releasedOwn + amount > this.perOwner) return 'share';
    return null;
  }

  /** Charges `amount` units (negative: gives them back) to `owner`. */
  charge(owner: ShareOwner, amount: number): void {
    this.used += amount;
    if (owner === null) return;
    const left = (this.held.get(owner) ?? 0) + amount;
    if (left > 0) this.held.set(owner, left);
    else this.held.delete(owner);
  }

  heldBy(owner: string): number {
    return this.held.get(owner) ?? 0;
  }

  /** Owners holding something (status, tests). */
  get owners(): number {
    return this.held.size;
  }
}

/** The owner key of a session: its device id once logged in, else its address unit; null for the admin level. */
export function shareOwnerOf(authorized: boolean, admin: boolean, deviceId: string, addressUnit: string): ShareOwner {
  if (admin) return null;
  return authorized ? `d:${deviceId}` : `a:${addressUnit}`;
}
