// The cluster bus: pub/sub between nodes (on Redis, the workers' primary or a memory hub: links.ts), interest-based
// at both ends. Split by job: interest (local-interest.ts what we announce, remote-interest.ts what the others
// want; the engine's subscriptions are kept here), the outbox (outbox.ts), request/reply (requests.ts); what
// arrives is handed to the broker's ClusterPort (port.ts).
// - A node subscribes to the Redis channel of a channel key only while one of its own clients subscribes to it
//   (and to one channel per CID it holds), so Redis forwards a publish only to the nodes that want it.
// - Nodes announce those interests on a control channel (NATS-style), so a publisher knows whether any other
//   node wants a key: a publish nobody elsewhere wants costs no Redis traffic at all, and one that is wanted
//   reaches Redis once. Lost announcements are detected by sequence number and repaired with a snapshot.
// - What a node sends goes through its outbox (outbox.ts: admission, the rate budget, batching, sequence numbers);
//   what arrives is checked against the senders' sequence numbers, so lost envelopes are counted here
//   (sequences.ts), whoever lost them.
// Own echoes (this node wanting its own publish) are ignored.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BusStats } from '../metrics/bus-stats.js';
import { RemoteInterest, type InterestChange } from './remote-interest.js';
import { LocalInterest } from './local-interest.js';
import { shareFor, splitBudget } from './budget-split.js';
import { decodeMessage, encodeEnvelope, KIND, type Envelope } from './envelope.js';
import { Outbox, type OutboxLimits } from './outbox.js';
import { StreamGaps } from './sequences.js';
import type { BusLinks } from './links.js';
import { CLUSTER_DEFAULTS } from './cluster-options.js';
import type { Publisher } from '../delivery/outbound.js';
import type { ClusterPort } from './port.js';
import { Requests, type Answerer } from './requests.js';

/** What the bus hands what arrives from other nodes to: the broker's port (its delivering verbs). */
export type BusArrivals = Pick<ClusterPort, 'deliverPublish' | 'deliverUnicast' | 'deliverEveryone'>;

export interface BusLimits extends OutboxLimits {
  /** Outstanding requests to other nodes. */
  maxPendingRequests: number;
  subscribeBatch: number;
}

export const BUS_LIMITS: BusLimits = {
  maxInFlight: 100_000,
  maxInFlightBytes: 64 * 1024 * 1024,
  bytesPerSecond: CLUSTER_DEFAULTS.busRate,
  maxPendingRequests: 10_000,
  subscribeBatch: 1000,
};

/** A sequence gap: `missed` data envelopes from `sender` on Redis channel `channel` never arrived. */
export interface BusGap {
  sender: string;
  channel: string;
  missed: number;
}

/** Keys per SNAPSHOT envelope. */
const SNAPSHOT_CHUNK = 10_000;
/** After a (re)connect, nodes that sent no snapshot within this time are taken as gone. */
const SYNC_GRACE_MS = 5000;

export class ClusterBus {
  readonly stats = new BusStats();
  /**
   * 'ready' once every interest is subscribed after a (re)connect; 'down' when Redis goes away;
   * 'remote-interest' (InterestChange) when the first other node wants a key or the last one stops;
   * 'gap' (BusGap) when envelopes sent to this node were lost on the way.
   */
  readonly events = new EventEmitter();
  /** Sequence gaps per sender and channel (the receiving side's loss count). */
  readonly gaps = new StreamGaps();
  private readonly outbox: Outbox;
  /** What the other nodes want. */
  readonly remote: RemoteInterest;
  /** What our clients subscribe to, and what the others have been told of it. */
  private readonly interest = new LocalInterest();
  private announceScheduled = false;
  private ctlSeq = 0;
  private readonly controlChannel: string;
  private readonly snapshotFrom = new Set<string>();
  private syncTimer: NodeJS.Timeout | null = null;
  /** Redis channel names this node subscribes to (interests, CIDs, its node channel, the everyone channel). */
  private readonly wanted = new Set<string>();
  private seq = 0;
  private readonly requests: Requests;
  private ready = false;
  private resyncing: Promise<void> | null = null;
  private closed = false;
  private readonly ownChannel: string;
  private readonly everyoneChannel: string;

  constructor(
    private readonly links: BusLinks,
    readonly nodeId: string,
    private readonly prefix: string,
    private readonly arrivals: BusArrivals,
    answer: Answerer,
    private readonly limits: BusLimits = BUS_LIMITS,
  ) {
    this.requests = new Requests(limits.maxPendingRequests, answer);
    this.ownChannel = this.nodeChannel(nodeId);
    this.everyoneChannel = `${prefix}:all`;
    this.controlChannel = `${prefix}:ctl`;
    this.remote = new RemoteInterest((change: InterestChange) => this.events.emit('remote-interest', change));
    this.outbox = new Outbox(links, limits, this.stats);
    this.wanted.add(this.ownChannel);
    this.wanted.add(this.everyoneChannel);
    this.wanted.add(this.controlChannel);
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

  /** A local client subscribes to `key` (the first one on this node): subscribe, then tell the others. */
  addInterest(key: string): void {
    if (!this.interest.add(key)) return;
    const subscribed = this.want(this.keyChannel(key));
    // Announced only once the engine confirmed the subscription, so a publisher that hears of it is heard by us.
    if (subscribed) void subscribed.then((ok) => ok && this.interest.confirmed(key) && this.scheduleAnnounce());
  }

  /** The last local subscriber of `key` left: tell the others, then unsubscribe. */
  removeInterest(key: string): void {
    const changed = this.interest.remove(key);
    if (changed === null) return;
    if (changed) this.scheduleAnnounce();
    this.unwant(this.keyChannel(key));
  }

  /** True when another node wants `key` (a publish must go to Redis). */
  remoteWants(key: string): boolean {
    return this.remote.wants(key);
  }

  /** Interest changes of one event-loop turn go out as one envelope. */
  private scheduleAnnounce(): void {
    if (this.announceScheduled) return;
    this.announceScheduled = true;
    setImmediate(() => {
      this.announceScheduled = false;
      if (!this.ready) return;
      const changes = this.interest.take();
      if (!changes) return;
      const { added, removed } = changes;
      const env: Envelope = { kind: KIND.INTEREST, node: this.nodeId, seq: ++this.seq, ctlSeq: ++this.ctlSeq, added, removed };
      this.send(this.controlChannel, env);
    });
  }

  /** Tells `channel` (the control channel, or one node's) every key we want. */
  private sendSnapshot(channel: string): void {
    const keys = this.interest.announcedKeys();
    const ctlSeq = this.ctlSeq;
    let part = 0;
    do {
      const slice = keys.slice(part * SNAPSHOT_CHUNK, (part + 1) * SNAPSHOT_CHUNK);
      this.send(channel, { kind: KIND.SNAPSHOT, node: this.nodeId, seq: ++this.seq, ctlSeq, keys: slice, part });
      part++;
    } while (part * SNAPSHOT_CHUNK < keys.length);
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

  /** Channel keys local clients subscribe to. */
  get localInterestCount(): number {
    return this.interest.size;
  }

  /** Resolves true once subscribed; null while down or resyncing (the resync subscribes everything wanted). */
  private want(channel: string): Promise<boolean> | null {
    if (this.wanted.has(channel)) return null;
    this.wanted.add(channel);
    if (!this.ready) return null;
    const done = this.links.subscribe([channel]);
    this.track(done);
    return done.then(
      () => {
        // A new subscription: what this channel carried before (if anything) says nothing about what comes now.
        this.gaps.forgetChannel(channel);
        return true;
      },
      () => false,
    );
  }

  private unwant(channel: string): void {
    if (!this.wanted.delete(channel)) return;
    this.gaps.forgetChannel(channel);
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
    // Everything we want is subscribed: announce it whole, and ask the others for theirs.
    this.interest.announceAll();
    this.sendSnapshot(this.controlChannel);
    this.snapshotFrom.clear();
    this.send(this.controlChannel, { kind: KIND.SYNC, node: this.nodeId, seq: ++this.seq });
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = setTimeout(() => this.forgetSilentNodes(), SYNC_GRACE_MS);
    this.syncTimer.unref();
    this.events.emit('ready');
  }

  /** Nodes that did not answer our sync are gone (they died while Redis was away). */
  private forgetSilentNodes(): void {
    this.syncTimer = null;
    for (const node of this.remote.nodes()) if (!this.snapshotFrom.has(node)) this.forgetNode(node);
  }

  /** A node is gone: its interests and its sequence streams. */
  private forgetNode(node: string): void {
    this.remote.forget(node);
    this.gaps.forgetSender(node);
  }

  /** A node was found dead (by us or another survivor): tell everyone to forget its interests. */
  announceGone(node: string): void {
    this.forgetNode(node);
    this.send(this.controlChannel, { kind: KIND.GONE, node: this.nodeId, seq: ++this.seq, dead: node });
  }

  private goDown(): void {
    if (!this.ready) return;
    this.ready = false;
    this.events.emit('down');
  }

  // ---- sending ------------------------------------------------------------------------------

  /**
   * Publishes to the nodes interested in `key`. `budget` < 0: no publishCounter cap (the common case, untouched);
   * otherwise it is split among those nodes (budget-split.ts), so all of them together reach at most `budget`.
   * `publisher` rides along, so receivers on other nodes see who sent it. `from`: who is charged for it (the
   * Outbound's owner: an address unit or a device), whose fair share of the bus budget it uses ('' for the server
   * itself).
   */
  publish(key: string, msg: Uint8Array, budget = -1, publisher: Publisher = '', from = ''): void {
    const refused = this.outbox.admit(true, msg.length, from);
    if (refused) return this.outbox.drop(refused, false);
    const cap = budget < 0 ? budget : splitBudget(budget, this.remote.nodeIdsFor(key));
    this.queue(this.publishChannel(key), { kind: KIND.PUBLISH, node: this.nodeId, seq: ++this.seq, key, msg: toBuffer(msg), budget: cap, publisher });
  }

  /**
   * The key's channel, or — when exactly one other node wants the key and one Redis orders every channel — that
   * node's own channel: the same single Redis message, but no echo back to this node when it has subscribers of
   * its own, and half the Redis deliveries. Order holds: a publisher's envelopes leave on one connection and
   * reach the node's one subscriber connection in that order, whichever of its channels they travel on.
   */
  private publishChannel(key: string): string {
    if (this.links.ordersAcrossChannels && this.remote.nodesFor(key) === 1) {
      for (const node of this.remote.nodeIdsFor(key)) return this.nodeChannel(node);
    }
    return this.keyChannel(key);
  }

  /** Unicast to a CID on another node (at-most-once: nothing waits for Redis's answer); `publisher`, `from` as for publish. */
  unicast(cid: string, msg: Uint8Array, publisher: Publisher = '', from = ''): void {
    const refused = this.outbox.admit(true, msg.length, from);
    if (refused) return this.outbox.drop(refused, false);
    this.queue(this.cidChannel(cid), { kind: KIND.UNICAST, node: this.nodeId, seq: ++this.seq, cid, msg: toBuffer(msg), publisher });
  }

  /** A unicast that resolves false when no node holds the CID (or Redis is away). */
  unicastConfirmed(cid: string, msg: Uint8Array, publisher: Publisher = ''): Promise<boolean> {
    const env: Envelope = { kind: KIND.UNICAST, node: this.nodeId, seq: ++this.seq, cid, msg: toBuffer(msg), publisher };
    return new Promise((resolve) => this.send(this.cidChannel(cid), env, false, (n) => resolve(n > 0)));
  }

  everyone(msg: Uint8Array): void {
    this.send(this.everyoneChannel, { kind: KIND.EVERYONE, node: this.nodeId, seq: ++this.seq, msg: toBuffer(msg) });
  }

  /** Asks `node` something; null when it does not answer within `timeoutMs` (dead, or Redis away). */
  request(node: string, op: string, arg: string, timeoutMs: number): Promise<string | null> {
    return this.ask(this.nodeChannel(node), op, arg, timeoutMs);
  }

  private ask(channel: string, op: string, arg: string, timeoutMs: number): Promise<string | null> {
    const request = this.requests.open(timeoutMs);
    if (!request) return Promise.resolve(null);
    const { id, result } = request;
    const env: Envelope = { kind: KIND.REQUEST, node: this.nodeId, seq: ++this.seq, id, op, arg };
    this.send(channel, env, false, (n) => {
      if (n === 0) this.requests.settle(id, null);
    });
    return result;
  }

  /** Asks whichever node holds `cid` (through its unicast channel); null when none answers in time. */
  requestByCid(cid: string, op: string, arg: string, timeoutMs: number): Promise<string | null> {
    return this.ask(this.cidChannel(cid), op, arg, timeoutMs);
  }

  /** Measures the bus round trip through Redis (own node channel). */
  ping(): void {
    this.send(this.ownChannel, { kind: KIND.PING, node: this.nodeId, seq: ++this.seq, sentAt: performance.now() }, true);
  }

  /**
   * Sends an envelope through the outbox (outbox.ts), or drops and counts it when the outbox refuses it. Data sent
   * here (the server's broadcasts) counts in the node's budget only; publish and unicast charge their publisher.
   */
  private send(channel: string, env: Envelope, own = false, done: ((receivers: number) => void) | null = null): void {
    const data = env.kind <= KIND.EVERYONE;
    const refused = this.outbox.admit(data, data && 'msg' in env ? env.msg.length : 0, '');
    if (refused) {
      this.outbox.drop(refused, own);
      done?.(0);
      return;
    }
    this.queue(channel, env, own, done);
  }

  /** An admitted envelope: encoded now, sent at the end of the turn. */
  private queue(channel: string, env: Envelope, own = false, done: ((receivers: number) => void) | null = null): void {
    const data = env.kind <= KIND.EVERYONE;
    if (data) this.stats.published++;
    else this.stats.controlSent++;
    this.outbox.push(channel, encodeEnvelope(env), data, own, done);
  }

  // ---- receiving ----------------------------------------------------------------------------

  private onMessage(channel: Buffer | string, payload: Buffer): void {
    const decoded = decodeMessage(payload);
    if (!decoded) {
      this.stats.malformed++;
      return;
    }
    const { envelopes } = decoded;
    if (decoded.seq >= 0) this.checkSequence(channel, decoded.seq, envelopes);
    for (const env of envelopes) {
      if (env) this.receive(env);
      else this.stats.malformed++;
    }
  }

  /** A sequenced message: counts the envelopes its sender sent on this channel before it that never came. */
  private checkSequence(channel: Buffer | string, seq: number, envelopes: readonly (Envelope | null)[]): void {
    let sender = '';
    for (const env of envelopes) {
      if (env) {
        sender = env.node;
        break;
      }
    }
    if (sender === '' || sender === this.nodeId) return;
    const name = typeof channel === 'string' ? channel : channel.toString();
    // A late message of a channel we just left starts no stream (its state would outlive the subscription).
    if (!this.wanted.has(name)) return;
    const missed = this.gaps.arrived(sender, name, seq, envelopes.length);
    if (missed === 0) return;
    this.stats.gaps += missed;
    const gap: BusGap = { sender, channel: name, missed };
    this.events.emit('gap', gap);
  }

  private receive(env: Envelope): void {
    if (env.node === this.nodeId) {
      if (env.kind === KIND.PING) this.recordLag(performance.now() - env.sentAt);
      else if (env.kind === KIND.PUBLISH) this.stats.echoes++;
      return;
    }
    if (env.kind <= KIND.EVERYONE) this.stats.received++;
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
        // Sent to our node channel by a publisher that still thought we wanted the key: we no longer do.
        if (!this.interest.has(env.key)) return;
        return this.arrivals.deliverPublish(env.key, env.msg, shareFor(env.budget, this.nodeId), env.publisher);
      case KIND.UNICAST:
        return this.arrivals.deliverUnicast(env.cid, env.msg, env.publisher);
      case KIND.EVERYONE:
        return this.arrivals.deliverEveryone(env.msg);
      case KIND.REQUEST: {
        const { id, node } = env;
        this.requests.answer(env.op, env.arg, node).then(
          (result) => this.send(this.nodeChannel(node), { kind: KIND.REPLY, node: this.nodeId, seq: ++this.seq, id, result }),
          () => undefined,
        );
        return;
      }
      case KIND.REPLY:
        return this.requests.settle(env.id, env.result);
      case KIND.PING:
        return;
      case KIND.INTEREST:
        if (!this.remote.inSequence(env.node, env.ctlSeq)) this.askSnapshot(env.node);
        for (const key of env.added) this.remote.add(env.node, key);
        for (const key of env.removed) this.remote.remove(env.node, key);
        return;
      case KIND.SNAPSHOT:
        this.snapshotFrom.add(env.node);
        if (env.part === 0) this.remote.replace(env.node, env.keys, env.ctlSeq);
        else for (const key of env.keys) this.remote.add(env.node, key);
        return;
      case KIND.SYNC:
        return this.sendSnapshot(this.nodeChannel(env.node));
      case KIND.GONE:
        if (env.dead === this.nodeId) {
          // We were presumed dead (unreachable for a lease): tell everyone again what we want.
          this.sendSnapshot(this.controlChannel);
          return;
        }
        return this.forgetNode(env.dead);
    }
  }

  private askSnapshot(node: string): void {
    this.send(this.nodeChannel(node), { kind: KIND.SYNC, node: this.nodeId, seq: ++this.seq });
  }

  private recordLag(ms: number): void {
    this.stats.lagMs = ms;
    if (ms > this.stats.maxLagMs) this.stats.maxLagMs = ms;
  }

  /** A clean leave: the others forget our interests at once. */
  leave(): Promise<void> {
    return new Promise((resolve) =>
      this.send(this.controlChannel, { kind: KIND.GONE, node: this.nodeId, seq: ++this.seq, dead: this.nodeId }, false, () => resolve()),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.ready = false;
    this.requests.close();
    await this.links.close();
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
