// The cluster's directory of logged-in CIDs: one Redis key per CID naming the node that holds it. A claim is
// atomic (one Lua script on one key, so it also works on a Redis Cluster); a claim held by a node whose lease
// has expired is taken over with a compare-and-set. Anonymous CIDs need no claim (see cid-space.ts).
import type { RedisCommands } from './redis-links.js';

/** Claims the CID when free or ours; otherwise returns the holder. */
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return owner end
redis.call('SET', KEYS[1], ARGV[1])
return ''`;

/** Replaces the holder only if it is still `ARGV[1]`. */
const TAKE_OVER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0`;

/** Deletes the claim only if `ARGV[1]` still holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export class CidClaims {
  constructor(
    private readonly redis: RedisCommands,
    private readonly prefix: string,
    private readonly nodeId: string,
  ) {}

  key(cid: string): string {
    return `${this.prefix}:cid:${cid}`;
  }

  /** '' when this node now holds `cid`, else the node that does. Throws when Redis is away. */
  async claim(cid: string): Promise<string> {
    return String(await this.redis.eval(CLAIM, 1, this.key(cid), this.nodeId));
  }

  async takeOver(cid: string, from: string): Promise<boolean> {
    return Number(await this.redis.eval(TAKE_OVER, 1, this.key(cid), from, this.nodeId)) === 1;
  }

  /** Releases our claim; `owner` lets a reaper release a dead node's claims. */
  async release(cid: string, owner = this.nodeId): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(cid), owner);
  }
}
