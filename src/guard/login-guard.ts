// Login brute-force throttle (issue 9 item 7). Every AUTH_REQ, of either login dialect, takes one token from
// its client address's bucket and one from its device id's bucket before any key is checked; a login that
// succeeds gives its tokens back, so only failures drain them. An empty bucket means AUTH_FAIL without a key
// check until it refills. Logins still being decided are capped per address (slow key stores, floods).
import { ipv6Hex, isIPv6Address } from './address.js';
import { TokenBucket } from './token-bucket.js';
import { systemClock, type Clock } from '../clock.js';
import type { LoginFailureReason } from '../info.js';
import type { LoginLimits } from '../policies.js';

/** The login throttle's defaults (README, Security). */
export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  addressRate: 2,
  addressBurst: 10,
  deviceRate: 1,
  deviceBurst: 5,
  pendingPerAddress: 16,
  tracked: 65_536,
};

export { LOGIN_FAILURE_REASONS, type LoginFailureReason } from '../info.js';

/** One admitted attempt: call `end` exactly once with whether the key was right. */
export interface LoginTicket {
  end(keyAccepted: boolean): void;
}

/**
 * What a login asks before its key is checked. One process answers at once (LoginGuard); under `io-server
 * --workers` the primary keeps one throttle for the whole host and the answer is a Promise (never rejected).
 */
export interface LoginThrottle {
  begin(ip: string, deviceId: string): LoginTicket | LoginFailureReason | Promise<LoginTicket | LoginFailureReason>;
  /** Whether a throttled refusal from `ip` should be logged (at most one a second per address). */
  shouldLog(ip: string): boolean;
}

interface AddressEntry {
  bucket: TokenBucket;
  pending: number;
  /** When a throttled refusal from this address was last written to the log. */
  loggedAt: number;
}

/** How long throttled refusals from one address stay out of the log after one was written. */
const THROTTLE_LOG_MS = 1000;

/** Addresses that share a throttle: one IPv4 address, or one IPv6 /64 (a single host can own a whole /64). */
export function throttleKey(ip: string): string {
  return isIPv6Address(ip) ? `${ipv6Hex(ip).slice(0, 16)}/64` : ip;
}

/** The login throttle of one process (under --workers the primary keeps one for the host). */
export class LoginGuard implements LoginThrottle {
  private readonly addresses = new Map<string, AddressEntry>();
  private readonly devices = new Map<string, TokenBucket>();

  constructor(
    readonly limits: LoginLimits,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Admits an attempt (a ticket) or says why it is refused without a key check. */
  begin(ip: string, deviceId: string, now = this.clock.now()): LoginTicket | LoginFailureReason {
    const key = throttleKey(ip);
    const address = this.address(key, now);
    if (address.pending >= this.limits.pendingPerAddress) return 'pending_cap';
    if (!address.bucket.take(1, now)) return 'throttled_address';
    const device = this.device(deviceId, now);
    if (!device.take(1, now)) {
      address.bucket.restore(1);
      return 'throttled_device';
    }
    address.pending++;
    let open = true;
    return {
      end: (keyAccepted) => {
        if (!open) return;
        open = false;
        address.pending--;
        if (!keyAccepted) return;
        address.bucket.restore(1);
        device.restore(1);
      },
    };
  }

  /** Whether a throttled refusal from `ip` should be logged (at most one a second per address). */
  shouldLog(ip: string, now = this.clock.now()): boolean {
    const entry = this.addresses.get(throttleKey(ip));
    if (!entry || now - entry.loggedAt < THROTTLE_LOG_MS) return false;
    entry.loggedAt = now;
    return true;
  }

  get trackedAddresses(): number {
    return this.addresses.size;
  }

  private address(key: string, now: number): AddressEntry {
    let entry = this.addresses.get(key);
    if (entry) {
      // Re-inserted so the map stays in least-recently-seen order.
      this.addresses.delete(key);
    } else {
      entry = { bucket: new TokenBucket(this.limits.addressRate, now, this.limits.addressBurst), pending: 0, loggedAt: 0 };
      this.evict(this.addresses, (old) => old.pending === 0);
    }
    this.addresses.set(key, entry);
    return entry;
  }

  private device(id: string, now: number): TokenBucket {
    let bucket = this.devices.get(id);
    if (bucket) this.devices.delete(id);
    else {
      bucket = new TokenBucket(this.limits.deviceRate, now, this.limits.deviceBurst);
      this.evict(this.devices, () => true);
    }
    this.devices.set(id, bucket);
    return bucket;
  }

  /** Keeps a map under `tracked` entries: forgets the least recently seen one that may go. */
  private evict<V>(map: Map<string, V>, mayGo: (value: V) => boolean): void {
    if (map.size < this.limits.tracked) return;
    let looked = 0;
    for (const [key, value] of map) {
      // Bounded: an entry with a login in flight is skipped, but only a few are looked at.
      if (mayGo(value) || ++looked > 64) {
        map.delete(key);
        return;
      }
    }
  }
}

/** LoginLimits with the defaults for what is not given. */
export function resolveLoginLimits(input: Partial<LoginLimits> | undefined): LoginLimits {
  return { ...DEFAULT_LOGIN_LIMITS, ...input };
}
