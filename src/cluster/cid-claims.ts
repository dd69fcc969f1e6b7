// The cluster's directory of logged-in CIDs: one store key per CID naming the node that holds it. A claim is
// atomic (on Redis one Lua script on one key, so it also works on a Redis Cluster); a claim held by a node whose
// lease has expired is taken over with a compare-and-set. Anonymous CIDs need no claim (see cid-space.ts).
import type { ClusterStore } from './links.js';

export class CidClaims {
  constructor(
    private readonly store: ClusterStore,
    private readonly prefix: string,
    private readonly nodeId: string,
  ) {}

  key(cid: string): string {
    return `${this.prefix}:cid:${cid}`;
  }

  /** '' when this node now holds `cid`, else the node that does. Throws when Redis is away. */
  claim(cid: string): Promise<string> {
    return this.store.claim(this.key(cid), this.nodeId);
  }

  takeOver(cid: string, from: string): Promise<boolean> {
    return this.store.swap(this.key(cid), from, this.nodeId);
  }

  /** Releases our claim; `owner` lets a reaper release a dead node's claims. */
  async release(cid: string, owner = this.nodeId): Promise<void> {
    await this.store.release(this.key(cid), owner);
  }
}
