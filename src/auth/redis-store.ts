// Key store in Redis (-r, §4.2): hash device:<id> with fields key, cid, level and optional uid, name.
// During an outage lookups reject at once instead of queueing, while the client reconnects in the background.
import type { Redis } from 'ioredis';
import { storedKeyForm } from '../crypto/keys.js';
import { assertDeviceEntry } from './device-entry.js';
import { messageOf } from './error-message.js';
import type { AuthLog, DeviceRecord, KeyStore } from './key-store.js';
import { connectRedis, type RedisTarget } from './redis-target.js';

export const DEVICE_KEY_PREFIX = 'device:';
const SCAN_BATCH = 200;
const QUIT_TIMEOUT_MS = 1000;


export class RedisKeyStore implements KeyStore {
  readonly kind = 'redis';
  readonly label: string;
  readonly #redis: Redis;
  readonly #log: AuthLog;
  #lastError = '';
  /** Set from the first error of an outage until the next 'ready', so each outage is logged once. */
  #inOutage = false;
  #closing = false;

  constructor(target: RedisTarget, log: AuthLog) {
    this.label = target.label;
    this.#log = log;
    this.#redis = connectRedis(target);
    this.#redis.on('error', (err: unknown) => {
      this.#lastError = messageOf(err);
      this.#startOutage(this.#lastError);
    });
    // A server that goes away cleanly closes the socket without an 'error'.
    this.#redis.on('close', () => {
      if (!this.#closing) this.#startOutage('connection lost');
    });
    this.#redis.on('ready', () => {
      if (!this.#inOutage) return;
      this.#inOutage = false;
      this.#log(`redis ${this.label}: connected again`);
    });
  }

  get connected(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Resolves once connected; rejects after `timeoutMs` (the client keeps trying afterwards). */
  ready(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#redis.off('ready', onReady);
        const reason = this.#lastError ? ` (${this.#lastError})` : '';
        reject(new Error(`redis ${this.label}: not reachable within ${timeoutMs} ms${reason}`));
      }, timeoutMs);
      this.#redis.once('ready', onReady);
    });
  }

  async lookup(id: string): Promise<DeviceRecord | null> {
    const fields = await this.#command('lookup', () => this.#redis.hgetall(DEVICE_KEY_PREFIX + id));
    if (!fields['key']) return null;
    const record: DeviceRecord = { id, key: fields['key'], cid: fields['cid'] ?? '', level: fields['level'] };
    if (fields['uid'] !== undefined) record.uid = fields['uid'];
    if (fields['name'] !== undefined) record.name = fields['name'];
    return record;
  }

  async add(id: string, key: string, cid: string, level: number): Promise<void> {
    assertDeviceEntry(id, key, cid, level, this.#log);
    const fields = { key: storedKeyForm(key), cid, level: String(level) };
    await this.#command('add', () => this.#redis.hset(DEVICE_KEY_PREFIX + id, fields));
  }

  async remove(id: string): Promise<boolean> {
    const removed = await this.#command('remove', () => this.#redis.del(DEVICE_KEY_PREFIX + id));
    return removed > 0;
  }

  /** SCAN rather than KEYS, so a large database is not blocked; SCAN may repeat keys, hence the set. */
  async list(): Promise<string[]> {
    const ids = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.#command('list', () =>
        this.#redis.scan(cursor, 'MATCH', `${DEVICE_KEY_PREFIX}*`, 'COUNT', SCAN_BATCH),
      );
      for (const key of keys) ids.add(key.slice(DEVICE_KEY_PREFIX.length));
      cursor = next;
    } while (cursor !== '0');
    return [...ids];
  }

  async close(): Promise<void> {
    this.#closing = true;
    if (this.#redis.status === 'end') return;
    if (this.connected) {
      const quitInTime = await Promise.race([
        this.#redis.quit().then(() => true, () => false),
        new Promise<false>((resolve) => setTimeout(resolve, QUIT_TIMEOUT_MS, false).unref()),
      ]);
      if (quitInTime) return;
    }
    this.#redis.disconnect();
  }

  #startOutage(reason: string): void {
    if (this.#inOutage || this.#closing) return;
    this.#inOutage = true;
    this.#log(`redis ${this.label}: ${reason}; reconnecting in the background`);
  }

  async #command<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw new Error(`redis ${this.label}: ${what} failed: ${messageOf(err)}`);
    }
  }
}
