// The cluster's shared state on Redis (ClusterStore, links.ts): one Lua script per compare-and-set, so each works
// on one key and therefore on a Redis Cluster too.
import type { Cluster, Redis } from 'ioredis';
import type { ClusterStore } from './links.js';

/** Anything that runs plain commands: a Redis or a Cluster client. */
export type RedisCommands = Redis | Cluster;

/** Takes the key when free or ours; otherwise returns the holder. */
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return owner end
redis.call('SET', KEYS[1], ARGV[1])
return ''`;

/** Replaces the holder only if it is still `ARGV[1]`. */
const SWAP = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0`;

/** Deletes the key only if `ARGV[1]` still holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Renews our lease, or takes it if free; 0 when another holds it. */
const RENEW = `
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if owner then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

export class RedisStore implements ClusterStore {
  constructor(readonly redis: RedisCommands) {}

  lease(key: string, value: string, ttlMs: number): Promise<string | null> {
    return this.redis.set(key, value, 'PX', ttlMs, 'GET');
  }

  async take(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async renew(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return Number(await this.redis.eval(RENEW, 1, key, owner, ttlMs)) === 1;
  }

  async claim(key: string, owner: string): Promise<string> {
    return String(await this.redis.eval(CLAIM, 1, key, owner));
  }

  async swap(key: string, from: string, to: string): Promise<boolean> {
    return Number(await this.redis.eval(SWAP, 1, key, from, to)) === 1;
  }

  async release(key: string, owner: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, key, owner);
  }

  get(key: string): Promise<string | null> {
    return this.redis.get(key);
  }

  getBuffer(key: string): Promise<Buffer | null> {
    return this.redis.getBuffer(key);
  }

  async set(key: string, value: Buffer | string): Promise<void> {
    await this.redis.set(key, value);
  }

  async exists(key: string): Promise<boolean> {
    return (await this.redis.exists(key)) === 1;
  }

  async del(key: string): Promise<void> {
    await this.redis.del(key);
  }

  async addMembers(set: string, members: string[]): Promise<void> {
    if (members.length) await this.redis.sadd(set, ...members);
  }

  async removeMember(set: string, member: string): Promise<void> {
    await this.redis.srem(set, member);
  }

  members(set: string): Promise<string[]> {
    return this.redis.smembers(set);
  }
}
