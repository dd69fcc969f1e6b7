// The bus's Redis connections: a command/publish connection and a separate subscriber connection (standalone),
// or one Redis Cluster client with a sharded subscriber per master (SPUBLISH/SSUBSCRIBE). Both look alike above.
import { EventEmitter } from 'node:events';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { ClusterMode } from './cluster-options.js';
import type { RedisTarget } from '../auth/redis-target.js';

/** Anything that runs plain commands (leases, CID claims): a Redis or a Cluster client. */
export type RedisCommands = Redis | Cluster;

export interface PubSubLinks {
  readonly commands: RedisCommands;
  /** 'up' when both directions can be used (subscriptions must then be restored), 'down' when either is lost. */
  readonly events: EventEmitter;
  readonly isUp: boolean;
  /** Sends one message; resolves with how many subscriber connections received it. */
  publish(channel: string, payload: Buffer): Promise<number>;
  subscribe(channels: string[]): Promise<void>;
  unsubscribe(channels: string[]): Promise<void>;
  onMessage(handler: (channel: string, payload: Buffer) => void): void;
  close(): Promise<void>;
}

/** Outages fail fast (no offline queue) and reconnect forever in the background, at most a second apart. */
const BUS_REDIS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 1000,
  commandTimeout: 2000,
  autoResubscribe: false,
  retryStrategy: (attempt: number) => Math.min(50 * attempt, 1000),
};

export function openLinks(target: RedisTarget, mode: ClusterMode, name: string): PubSubLinks {
  return mode === 'sharded' ? new ShardedLinks(target, name) : new StandaloneLinks(target, name);
}

function redisFor(target: RedisTarget, extra: RedisOptions): Redis {
  const options = { ...BUS_REDIS, ...extra };
  return target.url ? new Redis(target.url, options) : new Redis({ ...options, host: target.host, port: target.port });
}

class StandaloneLinks implements PubSubLinks {
  readonly events = new EventEmitter();
  readonly commands: Redis;
  private readonly subscriber: Redis;
  private up = false;

  constructor(target: RedisTarget, name: string) {
    this.commands = redisFor(target, { connectionName: `${name}:pub` });
    this.subscriber = redisFor(target, { connectionName: `${name}:sub` });
    for (const client of [this.commands, this.subscriber]) {
      client.on('ready', () => this.update());
      client.on('close', () => this.update());
      // Errors are reported through 'down' and the counters; ioredis keeps reconnecting.
      client.on('error', () => undefined);
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

  async subscribe(channels: string[]): Promise<void> {
    if (channels.length) await this.subscriber.subscribe(...channels);
  }

  async unsubscribe(channels: string[]): Promise<void> {
    if (channels.length) await this.subscriber.unsubscribe(...channels);
  }

  onMessage(handler: (channel: string, payload: Buffer) => void): void {
    this.subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => handler(channel.toString('utf8'), payload));
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
class ShardedLinks implements PubSubLinks {
  readonly events = new EventEmitter();
  readonly commands: Cluster;
  private up = false;

  constructor(target: RedisTarget, name: string) {
    const url = target.url ? new URL(target.url) : null;
    const tls = url?.protocol === 'rediss:' ? {} : undefined;
    const auth = url ? { username: decodeURIComponent(url.username) || undefined, password: decodeURIComponent(url.password) || undefined } : {};
    this.commands = new Cluster([{ host: target.host, port: target.port }], {
      shardedSubscribers: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
      redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 1000, commandTimeout: 2000, ...auth, tls, connectionName: name },
    });
    this.commands.on('ready', () => void this.connectMasters());
    this.commands.on('close', () => this.setUp(false));
    this.commands.on('end', () => this.setUp(false));
    this.commands.on('error', () => undefined);
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

  /** SSUBSCRIBE takes channels of one slot per command, so each channel goes on its own. */
  async subscribe(channels: string[]): Promise<void> {
    await Promise.all(channels.map((channel) => this.commands.ssubscribe(channel)));
  }

  async unsubscribe(channels: string[]): Promise<void> {
    await Promise.all(channels.map((channel) => this.commands.sunsubscribe(channel)));
  }

  onMessage(handler: (channel: string, payload: Buffer) => void): void {
    this.commands.on('smessageBuffer', (channel: Buffer, payload: Buffer) => handler(channel.toString('utf8'), payload));
  }

  async close(): Promise<void> {
    this.up = false;
    this.commands.disconnect();
  }
}
