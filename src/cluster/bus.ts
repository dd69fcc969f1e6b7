// The cluster bus: Redis pub/sub between nodes. Interest-based — a node subscribes to the Redis channel of a
// channel key only while one of its own clients subscribes to it, and to one channel per CID it holds — so a
// publish reaches Redis once and Redis forwards it only to the nodes that want it. Own echoes are ignored.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BusStats } from './bus-stats.js';
import { decodeEnvelope, encodeEnvelope, KIND, type Envelope } from './envelope.js';
import type { PubSubLinks } from './redis-links.js';

/** What a node does with what arrives from other nodes. */
export interface BusReceiver {
  /** A publish to `key` from another node: deliver to local subscribers (at most `budget` when ≥ 0). */
  publish(key: string, msg: Buffer, budget: number): void;
  /** A unicast (already retagged `@topic`) to a CID this node holds. */
  unicast(cid: string, msg: Buffer): void;
  /** Bytes for every local connection. */
  everyone(msg: Buffer): void;
  /** A question from `node`; the answer goes back as text. */
  request(op: string, arg: string, node: string): Promise<string>;
}

export interface BusLimits {
  /** Envelopes sent but not yet acknowledged by Redis; beyond this, sends are dropped (and counted). */
  maxInFlight: number;
  /** Outstanding requests to other nodes. */
  maxPendingRequests: number;
  subscribeBatch: number;
}

export const BUS_LIMITS: BusLimits = { maxInFlight: 100_000, maxPendingRequests: 10_000, subscribeBatch: 1000 };

interface Pending {
  resolve: (result: string | null) => void;
  timer: NodeJS.Timeout;
}

export class ClusterBus {
  readonly stats = new BusStats();
  /** 'ready' once every interest is subscribed after a (re)connect; 'down' when Redis goes away. */
  readonly events = new EventEmitter();
  /** Redis channel names this node subscribes to (interests, CIDs, its node channel, the everyone channel). */
  private readonly wanted = new Set<string>();
  private seq = 0;
  private inFlight = 0;
  private nextRequestId = 0;
  private readonly pending = new Map<number, Pending>();
  private ready = false;
  private resyncing: Promise<void> | null = null;
  private closed = false;
  private readonly ownChannel: string;
  private readonly everyoneChannel: string;

  constructor(
    private readonly links: PubSubLinks,
    readonly nodeId: string,
    private readonly prefix: string,
    private readonly receiver: BusReceiver,
    private readonly limits: BusLimits = BUS_LIMITS,
  ) {
    this.ownChannel = this.nodeChannel(nodeId);
    this.everyoneChannel = `${prefix}:all`;
    this.wanted.add(this.ownChannel);
    this.wanted.add(this.everyoneChannel);
    links.onMessage((channel, payload) => this.onMessage(channel, payload));
    links.events.on('up', () => void this.resync());
    links.events.on('down', () => this.goDown());
    if (links.isUp) void this.resync();
  }

  /** True once every interest is subscribed and Redis is reachable. */
  get isReady(): boolean {
    return this.ready;
  }

  keyChannel(key: string): string {
    return `${this.prefix}:k:${key}`;
  }

  cidChannel(cid: string): string {
    return `${this.prefix}:u:${cid}`;
  }

  nodeChannel(node: string): string {
    return `${this.prefix}:n:${node}`;
  }

  // ---- interest ---------------------------------------------------------------------------

  /** A local client subscribes to `key` (the first one on this node). */
  addInterest(key: string): void {
    this.want(this.keyChannel(key));
  }

  /** The last local subscriber of `key` left. */
  removeInterest(key: string): void {
    this.unwant(this.keyChannel(key));
  }

  /** This node holds `cid`: unicasts to it come here. */
  holdCid(cid: string): void {
    this.want(this.cidChannel(cid));
  }

  releaseCid(cid: string): void {
    this.unwant(this.cidChannel(cid));
  }

  hasInterest(key: string): boolean {
    return this.wanted.has(this.keyChannel(key));
  }

  get interestCount(): number {
    return this.wanted.size;
  }

  private want(channel: string): void {
    if (this.wanted.has(channel)) return;
    this.wanted.add(channel);
    // While resyncing or down, the resync subscribes everything in `wanted`.
    if (this.ready) this.track(this.links.subscribe([channel]));
  }

  private unwant(channel: string): void {
    if (!this.wanted.delete(channel)) return;
    if (this.links.isUp) this.track(this.links.unsubscribe([channel]));
  }

  private readonly changing = new Set<Promise<void>>();

  /** Failures need no handling: the next resync after a reconnect subscribes everything wanted. */
  private track(change: Promise<void>): void {
    const settled = change.catch(() => undefined).finally(() => this.changing.delete(settled));
    this.changing.add(settled);
  }

  /** Resolves once every interest change sent so far has been acknowledged by Redis (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.changing.size || this.resyncing) {
      await Promise.all([...this.changing, this.resyncing]);
    }
  }

  /** After a (re)connect: subscribe every interest, in batches, before declaring the bus ready. */
  private resync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.resyncing ??= this.subscribeAll().finally(() => {
      this.resyncing = null;
    });
    return this.resyncing;
  }

  private async subscribeAll(): Promise<void> {
    for (;;) {
      const all = [...this.wanted];
      try {
        for (let i = 0; i < all.length; i += this.limits.subscribeBatch) {
          await this.links.subscribe(all.slice(i, i + this.limits.subscribeBatch));
        }
      } catch {
        return; // Redis went away again; the next 'up' starts over.
      }
      if (!this.links.isUp) return;
      // Interests dropped meanwhile may have been subscribed by a later batch: take them back.
      const dropped = all.filter((c) => !this.wanted.has(c));
      if (dropped.length) await this.links.unsubscribe(dropped).catch(() => undefined);
      // Interests added meanwhile were only recorded: go round again until nothing is missing.
      if (all.length - dropped.length === this.wanted.size) break;
    }
    this.stats.resubscribes++;
    this.ready = true;
    this.events.emit('ready');
  }

  private goDown(): void {
    if (!this.ready) return;
    this.ready = false;
    this.events.emit('down');
  }

  // ---- sending ------------------------------------------------------------------------------

  /** Publishes to the nodes interested in `key`. `budget` < 0: no publishCounter cap. */
  publish(key: string, msg: Uint8Array, budget = -1): void {
    this.send(this.keyChannel(key), { kind: KIND.PUBLISH, node: this.nodeId, seq: ++this.seq, key, msg: toBuffer(msg), budget });
  }

  /** Unicast to a CID on another node; resolves false when no node holds it (or Redis is away). */
  unicast(cid: string, msg: Uint8Array): Promise<boolean> {
    const env: Envelope = { kind: KIND.UNICAST, node: this.nodeId, seq: ++this.seq, cid, msg: toBuffer(msg) };
    return this.send(this.cidChannel(cid), env).then((n) => n > 0);
  }

  everyone(msg: Uint8Array): void {
    this.send(this.everyoneChannel, { kind: KIND.EVERYONE, node: this.nodeId, seq: ++this.seq, msg: toBuffer(msg) });
  }

  /** Asks `node` something; null when it does not answer within `timeoutMs` (dead, or Redis away). */
  request(node: string, op: string, arg: string, timeoutMs: number): Promise<string | null> {
    if (this.pending.size >= this.limits.maxPendingRequests) return Promise.resolve(null);
    const id = ++this.nextRequestId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, timeoutMs);
      this.pending.set(id, { resolve, timer });
      const env: Envelope = { kind: KIND.REQUEST, node: this.nodeId, seq: ++this.seq, id, op, arg };
      void this.send(this.nodeChannel(node), env).then((n) => {
        if (n === 0) this.settle(id, null);
      });
    });
  }

  /** Measures the bus round trip through Redis (own node channel). */
  ping(): void {
    this.send(this.ownChannel, { kind: KIND.PING, node: this.nodeId, seq: ++this.seq, sentAt: performance.now() }, true);
  }

  /** Resolves with the number of node subscriptions Redis delivered to; 0 when dropped. */
  private send(channel: string, env: Envelope, own = false): Promise<number> {
    if (!this.links.isUp || this.inFlight >= this.limits.maxInFlight) {
      if (!own) this.stats.dropped++;
      return Promise.resolve(0);
    }
    this.inFlight++;
    this.stats.published++;
    return this.links.publish(channel, encodeEnvelope(env)).then(
      (receivers) => {
        this.inFlight--;
        this.stats.redisDeliveries += receivers;
        return receivers;
      },
      () => {
        this.inFlight--;
        if (!own) this.stats.dropped++;
        return 0;
      },
    );
  }

  // ---- receiving ----------------------------------------------------------------------------

  private onMessage(_channel: string, payload: Buffer): void {
    const env = decodeEnvelope(payload);
    if (!env) {
      this.stats.malformed++;
      return;
    }
    if (env.node === this.nodeId) {
      if (env.kind === KIND.PING) this.recordLag(performance.now() - env.sentAt);
      else this.stats.echoes++;
      return;
    }
    this.stats.received++;
    try {
      this.dispatch(env);
    } catch {
      // A bad envelope must not stop the bus; the receiver logs its own errors.
      this.stats.malformed++;
    }
  }

  private dispatch(env: Envelope): void {
    switch (env.kind) {
      case KIND.PUBLISH:
        return this.receiver.publish(env.key, env.msg, env.budget);
      case KIND.UNICAST:
        return this.receiver.unicast(env.cid, env.msg);
      case KIND.EVERYONE:
        return this.receiver.everyone(env.msg);
      case KIND.REQUEST: {
        const { id, node } = env;
        void this.receiver.request(env.op, env.arg, node).then(
          (result) => this.send(this.nodeChannel(node), { kind: KIND.REPLY, node: this.nodeId, seq: ++this.seq, id, result }),
          () => undefined,
        );
        return;
      }
      case KIND.REPLY:
        return this.settle(env.id, env.result);
      case KIND.PING:
        return;
    }
  }

  private settle(id: number, result: string | null): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(result);
  }

  private recordLag(ms: number): void {
    this.stats.lagMs = ms;
    if (ms > this.stats.maxLagMs) this.stats.maxLagMs = ms;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ready = false;
    for (const id of [...this.pending.keys()]) this.settle(id, null);
    await this.links.close();
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
