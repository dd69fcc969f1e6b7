// Anonymous CIDs that never collide across nodes: each node leases a slot (0–4095) in the cluster store and puts it in
// every anonymous CID it makes: `?` + 2 base64url characters of slot + 4 of randomness (7 bytes, within the
// device's 10-byte CID limit). Two nodes never hold the same slot, so their CIDs differ by construction, and
// uniqueness inside a node is the local CID index's job. Without a slot (the store away at start) a node falls
// back to `?` + 9 random characters (54 bits) until it gets one.
import { randomInt } from 'node:crypto';
import { randomBase64url } from '../crypto/random-pool.js';
import type { ClusterStore } from './links.js';

export const SLOT_COUNT = 4096;
const SLOT_ATTEMPTS = 64;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export function slotPrefix(slot: number): string {
  return BASE64URL[slot >> 6]! + BASE64URL[slot & 63]!;
}

export class CidSpace {
  /** The slot this node holds, or -1. */
  slot = -1;
  private prefix = '';

  constructor(
    private readonly store: ClusterStore,
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
      if (await this.store.renew(this.key(this.slot), this.nodeId, this.leaseMs)) return;
      this.log(`cluster: anonymous-CID slot ${this.slot} was taken by another node; leasing a new one`);
      this.slot = -1;
      this.prefix = '';
    }
    for (let attempt = 0; attempt < SLOT_ATTEMPTS; attempt++) {
      const slot = randomInt(SLOT_COUNT);
      if (await this.store.take(this.key(slot), this.nodeId, this.leaseMs)) {
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
    await this.store.release(this.key(this.slot), this.nodeId);
    this.slot = -1;
    this.prefix = '';
  }
}
