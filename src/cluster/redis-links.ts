// The bus on Redis (BusLinks, links.ts): a command/publish connection and a separate subscriber connection
// (standalone), or one Redis Cluster client with a sharded subscriber per master (SPUBLISH/SSUBSCRIBE). Both look
// alike above. Redis is the engine across hosts.
import { EventEmitter } from 'node:events';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { ioredis } from '../auth/ioredis.js';
import type { ClusterMode } from './cluster-options.js';
import type { RedisTarget } from '../auth/redis-target.js';
import type { BusLink } from '../metrics/bus-stats.js';
import type { BusLinks, LinkLoss, OutgoingMessage } from './links.js';
import { RedisStore, type RedisCommands } from './redis-store.js';

/** Outages fail fast (no offline queue) and reconnect forever in the background, at most a second apart. */
const BUS_REDIS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 1000,
  commandTimeout: 2000,
  autoResubscribe: false,
  retryStrategy: (attempt: number) => Math.min(50 * attempt, 1000),
};

export function openRedisLinks(target: RedisTarget, mode: ClusterMode, name: string): RedisLinks {
  return mode === 'sharded' ? new ShardedLinks(target, name) : new StandaloneLinks(target, name);
}

function redisFor(target: RedisTarget, extra: RedisOptions): Redis {
  const options = { ...BUS_REDIS, ...extra };
  const { Redis } = ioredis();
  return target.url ? new Redis(target.url, options) : new Redis({ ...options, host: target.host, port: target.port });
}

/**
 * Reports a connection lost after it had been ready, once per loss, with its last error. Errors are otherwise
 * reported through 'down' and the counters; ioredis keeps reconnecting.
 */
function watchLoss(client: Redis | Cluster, link: BusLink, events: EventEmitter): void {
  let ready = false;
  let error = '';
  client.on('ready', () => {
    ready = true;
    error = '';
  });
  client.on('error', (err: Error) => {
    error = err.message;
  });
  client.on('close', () => {
    if (!ready) return;
    ready = false;
    const loss: LinkLoss = { link, error };
    events.emit('disconnect', loss);
  });
}

/** BusLinks on Redis, with the Redis connection for plain commands (tests, the retained store). */
export interface RedisLinks extends BusLinks {
  readonly commands: RedisCommands;
  /** Sends one message; resolves with how many subscriber connections received it. */
  publish(channel: string, payload: Buffer): Promise<number>;
}

class StandaloneLinks implements RedisLinks {
  readonly events = new EventEmitter();
  readonly ordersAcrossChannels = true;
  readonly commands: Redis;
  readonly store: RedisStore;
  readonly label: string;
  private readonly subscriber: Redis;
  private up = false;

  constructor(target: RedisTarget, name: string) {
    this.commands = redisFor(target, { connectionName: `${name}:pub` });
    this.store = new RedisStore(this.commands);
    this.label = `Redis ${target.label}`;
    this.subscriber = redisFor(target, { connectionName: `${name}:sub` });
    watchLoss(this.commands, 'publish', this.events);
    watchLoss(this.subscriber, 'subscribe', this.events);
    for (const client of [this.commands, this.subscriber]) {
      client.on('ready', () => this.update());
      client.on('close', () => this.update());
    }
  }

  get isUp(): boolean {
    return this.up;
  }

  private update(): void {
    const up = this.commands.status === 'ready' && this.subscriber.status === 'ready';
    if (up === this.up) return;
    this.up = up;
    this.events.emit(up ? 'up' : 'down');
  }

  publish(channel: string, payload: Buffer): Promise<number> {
    return this.commands.publish(channel, payload);
  }

  /** One pipeline: one write to Redis, one read of the replies, for everything one event-loop turn sends. */
  publishAll(messages: readonly OutgoingMessage[], done: (receivers: (number | null)[]) => void): void {
    const failed = (): void => done(messages.map(() => null));
    if (messages.length === 1) {
      this.publish(messages[0]!.channel, messages[0]!.payload).then((n) => done([n]), failed);
      return;
    }
    const pipeline = this.commands.pipeline();
    for (const { channel, payload } of messages) pipeline.publish(channel, payload);
    pipeline.exec().then(
      (replies) => done(messages.map((_, i) => (replies?.[i] && !replies[i][0] ? Number(replies[i][1]) : null))),
      failed,
    );
  }

  async subscribe(channels: string[]): Promise<void> {
    if (channels.length) await this.subscriber.subscribe(...channels);
  }

  async unsubscribe(channels: string[]): Promise<void> {
    if (channels.length) await this.subscriber.unsubscribe(...channels);
  }

  onMessage(handler: (channel: Buffer, payload: Buffer) => void): void {
    this.subscriber.on('messageBuffer', handler);
  }

  async close(): Promise<void> {
    this.up = false;
    this.commands.disconnect();
    this.subscriber.disconnect();
  }
}

/**
 * Redis Cluster with sharded pub/sub: a channel lives on the master owning its hash slot, so the bus grows with
 * the shards. ioredis keeps one subscriber per master and restores its channels itself after a failover.
 */
class ShardedLinks implements RedisLinks {
  readonly events = new EventEmitter();
  readonly ordersAcrossChannels = false;
  readonly commands: Cluster;
  readonly store: RedisStore;
  readonly label: string;
  private up = false;

  constructor(target: RedisTarget, name: string) {
    const url = target.url ? new URL(target.url) : null;
    const tls = url?.protocol === 'rediss:' ? {} : undefined;
    const auth = url ? { username: decodeURIComponent(url.username) || undefined, password: decodeURIComponent(url.password) || undefined } : {};
    this.commands = new (ioredis().Cluster)([{ host: target.host, port: target.port }], {
      shardedSubscribers: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
      redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 1000, commandTimeout: 2000, ...auth, tls, connectionName: name },
    });
    this.store = new RedisStore(this.commands);
    this.label = `Redis ${target.label}`;
    // ioredis restores the sharded subscriptions of a lost shard connection itself; what was lost meanwhile shows
    // as sequence gaps. A lost cluster connection counts as the publishing side's.
    watchLoss(this.commands, 'publish', this.events);
    this.commands.on('ready', () => void this.connectMasters());
    this.commands.on('close', () => this.setUp(false));
    this.commands.on('end', () => this.setUp(false));
  }

  get isUp(): boolean {
    return this.up;
  }

  /**
   * Up only once every master answers: a command sent while its master connection is still being made is
   * refused and retried elsewhere, overtaking later ones, which would break a publisher's order.
   */
  private async connectMasters(): Promise<void> {
    try {
      await Promise.all(this.commands.nodes('master').map((node) => node.ping()));
    } catch {
      return; // 'close' follows; the next 'ready' tries again
    }
    if (this.commands.status === 'ready') this.setUp(true);
  }

  private setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    this.events.emit(up ? 'up' : 'down');
  }

  async publish(channel: string, payload: Buffer): Promise<number> {
    return Number(await this.commands.spublish(channel, payload));
  }

  /** Channels live on different shards: each message goes to its own (ioredis keeps per-shard order). */
  publishAll(messages: readonly OutgoingMessage[], done: (receivers: (number | null)[]) => void): void {
    const each = messages.map(({ channel, payload }) => this.publish(channel, payload).catch(() => null));
    void Promise.all(each).then(done);
  }

  /** SSUBSCRIBE takes channels of one slot per command, so each channel goes on its own. */
  async subscribe(channels: string[]): Promise<void> {
    await Promise.all(channels.map((channel) => this.commands.ssubscribe(channel)));
  }

  async unsubscribe(channels: string[]): Promise<void> {
    await Promise.all(channels.map((channel) => this.commands.sunsubscribe(channel)));
  }

  onMessage(handler: (channel: Buffer, payload: Buffer) => void): void {
    this.commands.on('smessageBuffer', handler);
  }

  async close(): Promise<void> {
    this.up = false;
    this.commands.disconnect();
  }
}
