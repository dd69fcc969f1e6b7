// Anonymous CIDs that never collide across nodes: each node leases a slot (0–4095) in Redis and puts it in
// every anonymous CID it makes: `?` + 2 base64url characters of slot + 4 of randomness (7 bytes, within the
// device's 10-byte CID limit). Two nodes never hold the same slot, so their CIDs differ by construction, and
// uniqueness inside a node is the local CID index's job. Without a slot (Redis away at start) a node falls
// back to `?` + 9 random characters (54 bits) until it gets one.
import { randomInt } from 'node:crypto';
import { randomBase64url } from '../crypto/random-pool.js';
import type { RedisCommands } from './redis-links.js';

export const SLOT_COUNT = 4096;
const SLOT_ATTEMPTS = 64;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Renews our slot, or takes it if free; 0 when another node holds it. */
const RENEW_SLOT = `
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if owner then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

export function slotPrefix(slot: number): string {
  return BASE64URL[slot >> 6]! + BASE64URL[slot & 63]!;
}

export class CidSpace {
  /** The slot this node holds, or -1. */
  slot = -1;
  private prefix = '';

  constructor(
    private readonly redis: RedisCommands,
    private readonly keyPrefix: string,
    private readonly nodeId: string,
    private readonly leaseMs: number,
    private readonly log: (line: string) => void,
  ) {}

  private key(slot: number): string {
    return `${this.keyPrefix}:slot:${slot}`;
  }

  /** Keeps the slot (heartbeat): renews it, or leases a new one when it was lost during a long outage. */
  async renew(): Promise<void> {
    if (this.slot >= 0) {
      const kept = await this.redis.eval(RENEW_SLOT, 1, this.key(this.slot), this.nodeId, this.leaseMs);
      if (Number(kept) === 1) return;
      this.log(`cluster: anonymous-CID slot ${this.slot} was taken by another node; leasing a new one`);
      this.slot = -1;
      this.prefix = '';
    }
    for (let attempt = 0; attempt < SLOT_ATTEMPTS; attempt++) {
      const slot = randomInt(SLOT_COUNT);
      const got = await this.redis.set(this.key(slot), this.nodeId, 'PX', this.leaseMs, 'NX');
      if (got === 'OK') {
        this.slot = slot;
        this.prefix = '?' + slotPrefix(slot);
        return;
      }
    }
    this.log('cluster: no free anonymous-CID slot found; using 9 random characters per CID');
  }

  /** A candidate anonymous CID; the caller retries while it is held locally. */
  candidate(): string {
    if (this.prefix) {
      return this.prefix + randomBase64url(3);
    }
    return '?' + randomBase64url(7).slice(0, 9);
  }

  /** Gives the slot back on a clean shutdown. */
  async release(): Promise<void> {
    if (this.slot < 0) return;
    await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, this.key(this.slot), this.nodeId);
    this.slot = -1;
    this.prefix = '';
  }
}
