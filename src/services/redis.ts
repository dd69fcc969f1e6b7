// The `redis` service (docs/protocol.md §7.4): level-200 callers run a fixed set of Redis commands on the broker's Redis.
// It has its own client, fails fast while Redis is unreachable (no offline queue, bounded commands) and never throws.
import type { Redis } from 'ioredis';
import { connectRedis, type RedisTarget } from '../auth/redis-target.js';
import type { Caller, CallRequest, Service, ServiceReply } from './service.js';
import { messageOf } from '../auth/error-message.js';
import { failure, success } from './args.js';
import { redisArgs, shapeReply } from './redis-args.js';
import { refusedKeys, visibleKeys, type RedisKeyspace } from './redis-keyspace.js';

const MIN_LEVEL = 200;
export const REDIS_COMMANDS = ['GET', 'SET', 'HGETALL', 'HGET', 'HSET', 'SADD', 'SISMEMBER', 'SMEMBERS', 'EXISTS', 'SREM', 'DEL', 'KEYS', 'SAVE'] as const;
/** The names the reference's client also answers to. */
const CAMEL_CASE = ['get', 'set', 'hGetAll', 'hGet', 'hSet', 'sAdd', 'sIsMember', 'sMembers', 'exists', 'sRem', 'del', 'keys', 'save'] as const;

/** How long a call waits for the very first connection attempt; once an attempt has failed, calls fail at once. */
const FIRST_CONNECT_WAIT_MS = 1000;
const QUIT_TIMEOUT_MS = 1000;


export class RedisService implements Service {
  readonly name = 'redis';
  readonly commands: readonly string[] = [...REDIS_COMMANDS, ...CAMEL_CASE];
  readonly #redis: Redis;
  readonly #label: string;
  readonly #log: (line: string) => void;
  #everReady = false;
  #inOutage = false;
  #lastError = '';
  #closing = false;

  readonly #space: RedisKeyspace;

  /** `keyPrefix`: the only keys the service may touch ('' = all but the key store's `device:` space). */
  constructor(target: RedisTarget, log: (line: string) => void, keyPrefix = '') {
    this.#space = { prefix: keyPrefix };
    this.#label = target.label;
    this.#log = log;
    this.#redis = connectRedis(target);
    // Without an 'error' listener ioredis would print every failed reconnect; log each outage once instead.
    this.#redis.on('error', (err: unknown) => this.#outage(messageOf(err)));
    this.#redis.on('close', () => this.#outage('connection lost'));
    this.#redis.on('ready', () => {
      this.#everReady = true;
      this.#lastError = '';
      if (this.#inOutage) this.#log(`redis service ${this.#label}: connected again`);
      this.#inOutage = false;
    });
  }

  checkPermission(caller: Caller): boolean {
    return caller.level >= MIN_LEVEL;
  }

  async call(_caller: Caller, req: CallRequest): Promise<ServiceReply> {
    const command = req.topic.toLowerCase();
    try {
      const args = redisArgs(req.args);
      const refused = refusedKeys(command, args, this.#space);
      if (refused !== null) return failure(refused);
      await this.#connected();
      // Lower case so ioredis applies its reply shaping (HGETALL gives an object).
      return success(visibleKeys(command, shapeReply(command, await this.#redis.call(command, ...args)), this.#space));
    } catch (err) {
      return failure(messageOf(err));
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#redis.status === 'end') return;
    if (this.#redis.status === 'ready') {
      const quitInTime = await Promise.race([
        this.#redis.quit().then(() => true, () => false),
        new Promise<false>((resolve) => setTimeout(resolve, QUIT_TIMEOUT_MS, false).unref()),
      ]);
      if (quitInTime) return;
    }
    this.#redis.disconnect();
  }

  async #connected(): Promise<void> {
    if (this.#isReady()) return;
    if (!this.#everReady && !this.#lastError && !this.#closing) await this.#firstAttempt();
    if (!this.#isReady()) {
      const reason = this.#lastError ? ` (${this.#lastError})` : '';
      throw new Error(`redis ${this.#label} is not connected${reason}`);
    }
  }

  #isReady(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Resolves on 'ready', on the first error or after FIRST_CONNECT_WAIT_MS, whichever comes first. */
  #firstAttempt(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#redis.off('ready', done);
        this.#redis.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, FIRST_CONNECT_WAIT_MS);
      this.#redis.once('ready', done);
      this.#redis.once('error', done);
    });
  }

  #outage(reason: string): void {
    if (this.#closing) return;
    if (reason !== 'connection lost' || !this.#lastError) this.#lastError = reason;
    if (this.#inOutage) return;
    this.#inOutage = true;
    this.#log(`redis service ${this.#label}: ${reason}; reconnecting in the background`);
  }
}
