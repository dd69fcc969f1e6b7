// What the cluster runs on: a pub/sub engine between the nodes (BusLinks) and a small shared store for leases,
// claims and retained values (ClusterStore). Three engines implement both (open-links.ts picks one):
//   - Redis (redis-links.ts, redis-store.ts): the way across hosts;
//   - node's cluster IPC (workers/ipc-links.ts, through the primary of `io-server --workers`): one host, no Redis;
//   - a memory hub (memory-links.ts): several brokers in one process (tests, benches).
// The bus, its interest, outbox and request/reply never know which one they run on.
import type { EventEmitter } from 'node:events';
import type { BusLink } from '../metrics/bus-stats.js';

/** A connection of the engine was lost after it had been ready ('disconnect' event). */
export interface LinkLoss {
  link: BusLink;
  /** The last error the connection reported, if any (Redis closing a slow subscriber shows as a reset or an end). */
  error: string;
}

/** One message for the engine: its channel and its bytes. */
export interface OutgoingMessage {
  channel: string;
  payload: Buffer;
}

/** Channel pub/sub between the nodes: subscriptions by channel name, messages delivered in publish order. */
export interface BusLinks {
  /** Who the engine is, for log lines ("Redis redis://…", "the workers' primary", "memory hub"). */
  readonly label: string;
  readonly store: ClusterStore;
  /**
   * 'up' when both directions can be used (subscriptions must then be restored), 'down' when either is lost;
   * 'disconnect' (LinkLoss) for each connection lost after it had been ready.
   */
  readonly events: EventEmitter;
  readonly isUp: boolean;
  /** One engine delivers every channel in publish order (standalone Redis, IPC, memory); a Redis Cluster orders per shard only. */
  readonly ordersAcrossChannels: boolean;
  /** True for an engine in this process: the outbox sends at the end of each job, not of each turn (outbox.ts). */
  readonly sendsPerJob?: boolean;
  /**
   * Sends several messages, in order, in as few writes as the engine allows; `done` gets, per message, how many
   * subscriber connections received it, or null when it failed.
   */
  publishAll(messages: readonly OutgoingMessage[], done: (receivers: (number | null)[]) => void): void;
  subscribe(channels: string[]): Promise<void>;
  unsubscribe(channels: string[]): Promise<void>;
  /** Every message of a subscribed channel, with its channel (envelopes say what they are; sequences are per channel). */
  onMessage(handler: (channel: Buffer | string, payload: Buffer) => void): void;
  close(): Promise<void>;
}

/**
 * The cluster's shared state, in the few operations it needs: node leases and CID sets (node-registry.ts), CID
 * claims (cid-claims.ts), anonymous-CID slots (cid-space.ts) and channel-retained values (broker-cluster.ts). Every
 * operation on one key is atomic. Rejects while the engine is away.
 */
export interface ClusterStore {
  /** Sets `key` to `value` for `ttlMs`; resolves with the value it replaces (null: there was none). */
  lease(key: string, value: string, ttlMs: number): Promise<string | null>;
  /** Sets `key` for `ttlMs` only if it is absent; true when it was set. */
  take(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Keeps `key` for `owner` another `ttlMs` (taking it if absent); false when another owner holds it. */
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** `key` becomes `owner`'s unless another holds it: '' when `owner` holds it now, else the holder. No expiry. */
  claim(key: string, owner: string): Promise<string>;
  /** Moves `key` from `from` to `to`; false when `from` no longer holds it. */
  swap(key: string, from: string, to: string): Promise<boolean>;
  /** Deletes `key` if `owner` holds it. */
  release(key: string, owner: string): Promise<void>;
  get(key: string): Promise<string | null>;
  getBuffer(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer | string): Promise<void>;
  exists(key: string): Promise<boolean>;
  del(key: string): Promise<void>;
  addMembers(set: string, members: string[]): Promise<void>;
  removeMember(set: string, member: string): Promise<void>;
  members(set: string): Promise<string[]>;
}
