// One MQTT session (MQTT 5 §4.1): its subscriptions, the QoS 1/2 messages in flight to the client, the queue of
// messages waiting for it, and the inbound QoS 2 packet identifiers not yet released. It outlives its connections
// while it has an expiry; offline, it stays subscribed and queues (within its bounds).
import { clientTopic, subscribeTarget } from './channel-map.js';
import type { Delivery, EngineContext, SessionLink } from './context.js';
import type { MqttIdentity, MqttMessage, MqttSubscriber, QoS, SessionJournal, StoredDelivery, StoredSession, StoredSessionRecord, SubscriptionOptions, Verdict } from './port.js';
import { parseSharedFilter } from './topic.js';
import { loadedMessage, storedMessage } from './stored-message.js';

const NO_IDS: readonly number[] = Object.freeze([]);

/** A subscription as the session holds it. */
export interface SessionSubscription {
  routingFilter: string;
  group: string | null;
  options: SubscriptionOptions;
}

/** A pending Will Message whose delay runs (the session lost its connection). */
export interface PendingWill {
  message: MqttMessage;
  cancel(): void;
}

/**
 * The in-flight map and QoS 2 identifier set of a session that has never had one: shared by every such session
 * (an idle connection's session then holds no table of its own), so any write to them is refused.
 */
class NoneYet<K, V> extends Map<K, V> {
  override set(): this {
    throw new Error('a shared empty map is never written to');
  }
}
class NoIdsYet extends Set<number> {
  override add(): this {
    throw new Error('a shared empty set is never written to');
  }
}
const NO_FLIGHTS: Map<number, Delivery> = new NoneYet<number, Delivery>();
const NO_QOS2_IDS: Set<number> = new NoIdsYet();

/** A FIFO without Array.shift's copying. */
class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  unshift(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class MqttSession implements MqttSubscriber {
  readonly subscriptions = new Map<string, SessionSubscription>();
  /** QoS 1/2 deliveries in flight by packet identifier (NO_FLIGHTS until the first: add through ownInflight). */
  inflight: Map<number, Delivery> = NO_FLIGHTS;
  /** Inbound QoS 2 identifiers not yet released (NO_QOS2_IDS until the first: add through ownInboundQos2). */
  inboundQos2: Set<number> = NO_QOS2_IDS;
  private readonly queue = new Fifo<Delivery>();
  /** In-flight messages of a resumed session not yet sent again (the client's window was full). */
  private resend: Delivery[] = [];
  private queuedBytes = 0;
  private nextPacketId = 1;
  /** Seconds the session outlives its connection. */
  expiry = 0;
  link: SessionLink | null = null;
  pendingWill: PendingWill | null = null;
  expiryTimer: { cancel(): void } | null = null;
  disconnectedAt = 0;
  ended = false;
  /**
   * True while the session store holds this session change by change (a journaling store and an expiry): every
   * change below is handed to it as it happens (docs/durability.md §8).
   */
  private journaled = false;

  constructor(
    readonly clientId: string,
    public identity: MqttIdentity,
    private readonly ctx: EngineContext,
  ) {}

  ownInflight(): Map<number, Delivery> {
    if (this.inflight === NO_FLIGHTS) this.inflight = new Map();
    return this.inflight;
  }

  ownInboundQos2(): Set<number> {
    if (this.inboundQos2 === NO_QOS2_IDS) this.inboundQos2 = new Set();
    return this.inboundQos2;
  }

  get ready(): boolean {
    return this.link !== null && this.inflight.size < this.link.window;
  }

  get queued(): number {
    return this.queue.length;
  }

  // ---- the journal ----------------------------------------------------------------------------------------------

  private get journal(): SessionJournal | null {
    return this.journaled ? this.ctx.journal : null;
  }

  /**
   * The session's expiry is set (CONNECT, DISCONNECT): with one, the journal gets the whole session the first time
   * and the record after; without, the session leaves it.
   */
  setExpiry(seconds: number): void {
    this.expiry = seconds;
    const journal = this.ctx.journal;
    if (!journal) return;
    if (seconds === 0) {
      if (!this.journaled) return;
      this.journaled = false;
      for (const d of this.inflight.values()) d.logOffset = 0;
      for (const d of this.queue) d.logOffset = 0;
      journal.delete(this.clientId);
    } else if (this.journaled) this.journalRecord();
    else {
      const owed = [...this.inflight.values(), ...this.queue];
      const offsets = journal.rewrite({ ...this.record(), inflight: owed.slice(0, this.inflight.size).map(storeDelivery), queue: owed.slice(this.inflight.size).map(storeDelivery) });
      for (let i = 0; i < owed.length; i++) owed[i]!.logOffset = offsets[i] ?? 0;
      this.journaled = true;
    }
  }

  /** The record changed (subscriptions, inbound QoS 2 ids, online/offline): written when journaled. */
  journalRecord(): void {
    this.journal?.record(this.record());
  }

  private record(): StoredSessionRecord {
    return {
      clientId: this.clientId,
      expiry: this.expiry,
      disconnectedAt: this.disconnectedAt,
      subscriptions: [...this.subscriptions].map(([filter, sub]) => ({ filter, options: { ...sub.options } })),
      inboundQos2: [...this.inboundQos2],
      identity: { ...this.identity },
      online: this.link !== null,
    };
  }

  /** What the journal holds of this session now (the store re-reads it after deferring its writes); null when not journaled. */
  journalState(): { record: StoredSessionRecord; deliveries: StoredDelivery[] } | null {
    if (!this.journaled) return null;
    const deliveries: StoredDelivery[] = [];
    for (const d of this.inflight.values()) if (d.logOffset !== 0) deliveries.push(storeDelivery(d));
    for (const d of this.queue) if (d.logOffset !== 0) deliveries.push(storeDelivery(d));
    return { record: this.record(), deliveries };
  }

  /** A delivery is done: it leaves the journal. */
  private completed(d: Delivery): void {
    if (d.logOffset === 0) return;
    this.journal?.completed(this.clientId, d.logOffset);
    d.logOffset = 0;
  }

  // ---- subscriptions -----------------------------------------------------------------------------------------

  /** Adds or replaces the subscription to `filter` (client form); returns the broker's verdict. */
  subscribe(filter: string, routingFilter: string, group: string | null, options: SubscriptionOptions): Verdict {
    const old = this.subscriptions.get(filter);
    if (old && (old.routingFilter !== routingFilter || old.group !== group)) this.ctx.port.unsubscribe(this, old.routingFilter, old.group);
    const verdict = this.ctx.port.subscribe(this, routingFilter, group, options);
    if (verdict === 0) this.subscriptions.set(filter, { routingFilter, group, options });
    else if (old) this.subscriptions.delete(filter);
    if (verdict === 0 || old) this.journalRecord();
    return verdict;
  }

  unsubscribe(filter: string): boolean {
    const sub = this.subscriptions.get(filter);
    if (!sub) return false;
    this.subscriptions.delete(filter);
    this.ctx.port.unsubscribe(this, sub.routingFilter, sub.group);
    this.journalRecord();
    return true;
  }

  /** A new connection may have another CID or address: subscriptions under `$iosig/` are made again for it. */
  rebind(identity: MqttIdentity): void {
    const before = this.identity;
    this.identity = identity;
    if (before.cid === identity.cid && before.home === identity.home) return;
    for (const [filter, sub] of [...this.subscriptions]) {
      if (sub.options.view === 'as-is' && !filter.includes('$iosig/')) continue;
      const shared = parseSharedFilter(filter);
      const inner = shared && shared !== 'invalid' ? shared.filter : filter;
      const target = subscribeTarget(inner, identity);
      if (target.kind === 'refused') this.unsubscribe(filter);
      else if (target.routingFilter !== sub.routingFilter) this.subscribe(filter, target.routingFilter, sub.group, { ...sub.options, view: target.view });
    }
  }

  dropSubscriptions(): void {
    for (const sub of this.subscriptions.values()) this.ctx.port.unsubscribe(this, sub.routingFilter, sub.group);
    this.subscriptions.clear();
  }

  // ---- deliveries --------------------------------------------------------------------------------------------

  deliver(message: MqttMessage, matches: readonly SubscriptionOptions[]): void {
    try {
      let qos = -1;
      let rap = false;
      let ids: number[] | undefined;
      let view: SubscriptionOptions['view'] = 'as-is';
      for (const m of matches) {
        if (m.noLocal && message.origin === this) continue; // [MQTT-3.8.3-3]
        if (qos < 0) view = m.view;
        if (m.qos > qos) qos = m.qos;
        if (m.retainAsPublished) rap = true;
        if (m.subscriptionId > 0) (ids ??= []).push(m.subscriptionId);
      }
      if (qos < 0) return;
      // RETAIN stays set on a live delivery only for Retain As Published [MQTT-3.3.1-12]; 3.1.1 always clears it.
      this.offer(message, Math.min(qos, message.qos) as QoS, rap && message.retain, ids ?? NO_IDS, view);
    } catch (err) {
      this.failed('deliver', err);
    }
  }

  /** A retained message sent because of a new subscription: RETAIN set [MQTT-3.3.1-8]. */
  deliverRetained(message: MqttMessage, options: SubscriptionOptions): void {
    const ids = options.subscriptionId > 0 ? [options.subscriptionId] : NO_IDS;
    this.offer(message, Math.min(options.qos, message.qos) as QoS, true, ids, options.view);
  }

  private offer(message: MqttMessage, qos: QoS, retain: boolean, subscriptionIds: readonly number[], view: SubscriptionOptions['view']): void {
    if (message.expiresAt !== undefined && message.expiresAt <= this.ctx.clock.now()) {
      this.ctx.stats.droppedExpired++;
      return;
    }
    const delivery: Delivery = { message, qos, retain, subscriptionIds, view, packetId: 0, state: 'queued', logOffset: 0 };
    const link = this.link;
    if (link) {
      if (qos === 0) return link.sendQos0(delivery);
      if (this.queue.length === 0 && this.inflight.size < link.window && this.startFlight(delivery, link)) return;
    } else if (qos === 0 && !this.ctx.limits.queueQos0Offline) {
      this.ctx.stats.droppedOffline++;
      return;
    }
    this.enqueue(delivery);
  }

  private enqueue(delivery: Delivery): void {
    const bytes = delivery.message.payload.length;
    const { limits } = this.ctx;
    if (this.queue.length >= limits.maxQueuedMessages || this.queuedBytes + bytes > limits.maxQueuedBytes || !this.ctx.reserveQueueBytes(bytes)) {
      this.ctx.stats.droppedQueueFull++;
      this.completed(delivery); // a journaled one read back past today's bounds
      return;
    }
    this.queuedBytes += bytes;
    this.queue.push(delivery);
    const journal = this.journal;
    if (journal && delivery.logOffset === 0) delivery.logOffset = journal.queued(this.clientId, storeDelivery(delivery));
  }

  /** Returns a delivery to the head of the queue (it was there, or in flight): no bound applies. */
  private putBack(delivery: Delivery): void {
    const bytes = delivery.message.payload.length;
    this.queuedBytes += bytes;
    this.ctx.reserveQueueBytes(bytes, true);
    this.queue.unshift(delivery);
  }

  private takeQueued(): Delivery | undefined {
    const delivery = this.queue.shift();
    if (delivery) {
      const bytes = delivery.message.payload.length;
      this.queuedBytes -= bytes;
      this.ctx.releaseQueueBytes(bytes);
    }
    return delivery;
  }

  /** Puts a delivery in flight; false when no packet identifier is free. */
  private startFlight(delivery: Delivery, link: SessionLink): boolean {
    const id = this.allocatePacketId();
    if (id === 0) return false;
    delivery.packetId = id;
    delivery.state = 'publish';
    this.ownInflight().set(id, delivery);
    // Too large for the client: discarded and treated as delivered [MQTT-3.1.2-25].
    if (!link.transmit(delivery, false)) {
      this.inflight.delete(id);
      this.completed(delivery);
      return true;
    }
    const journal = this.journal;
    if (journal) {
      if (delivery.logOffset === 0) delivery.logOffset = journal.queued(this.clientId, storeDelivery(delivery));
      else journal.changed(this.clientId, delivery.logOffset, storeDelivery(delivery));
    }
    return true;
  }

  private allocatePacketId(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65_535 ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
    return 0;
  }

  /** Resends what a resumed session still owes, then moves queued messages into flight, while the window has room. */
  pump(): void {
    const link = this.link;
    if (!link) return;
    while (this.resend.length > 0 && this.inflight.size - this.resend.length < link.window) {
      const d = this.resend.shift()!;
      if (this.inflight.get(d.packetId) === d && !link.transmit(d, true)) this.dropInflight(d);
    }
    while (this.queue.length > 0 && this.inflight.size < link.window) {
      const delivery = this.takeQueued()!;
      const expiresAt = delivery.message.expiresAt;
      if (expiresAt !== undefined && expiresAt <= this.ctx.clock.now()) {
        this.ctx.stats.droppedExpired++;
        this.completed(delivery);
        continue;
      }
      if (delivery.qos === 0) {
        link.sendQos0(delivery);
        this.completed(delivery);
      } else if (!this.startFlight(delivery, link)) {
        this.putBack(delivery);
        return;
      }
    }
  }

  // ---- acknowledgements (client → server) ---------------------------------------------------------------------

  puback(id: number): void {
    const d = this.inflight.get(id);
    if (d?.qos === 1) {
      this.dropInflight(d);
      this.pump();
    }
  }

  /** An in-flight delivery is over (acknowledged, refused, too large). */
  private dropInflight(d: Delivery): void {
    this.inflight.delete(d.packetId);
    this.completed(d);
  }

  /** PUBREC: true when the message was known (PUBREL follows), false for an unknown identifier. */
  pubrec(id: number, reasonCode: number): boolean {
    const d = this.inflight.get(id);
    if (d?.qos !== 2) return false;
    if (reasonCode >= 0x80) {
      // The receiver refused it: the exchange ends here [MQTT-4.3.3-4 note, MQTT 5 §4.3.3].
      this.dropInflight(d);
      this.pump();
      return true;
    }
    if (d.state !== 'pubrel') {
      d.state = 'pubrel';
      if (d.logOffset !== 0) this.journal?.changed(this.clientId, d.logOffset, storeDelivery(d));
    }
    return true;
  }

  pubcomp(id: number): void {
    const d = this.inflight.get(id);
    if (d?.state === 'pubrel') {
      this.dropInflight(d);
      this.pump();
    }
  }

  // ---- connection changes -------------------------------------------------------------------------------------

  /**
   * A connection resumed the session after its CONNACK: unacknowledged PUBLISHes go again with DUP and their own
   * identifiers, PUBRELs again [MQTT-4.4.0-1]. A client whose Receive Maximum is now smaller gets the rest of them
   * (same identifiers, so QoS 2 stays exactly once) as acknowledgements make room, before any new message.
   */
  attach(link: SessionLink): void {
    this.link = link;
    this.resend = [];
    let sent = 0;
    for (const [id, d] of [...this.inflight]) {
      if (d.state === 'pubrel') {
        link.writePubrel(id);
        sent++;
      } else if (sent < link.window) {
        if (!link.transmit(d, true)) this.dropInflight(d);
        sent++;
      } else this.resend.push(d);
    }
    this.journalRecord();
    this.pump();
  }

  /** The connection `link` is gone (a no-op when another connection has taken the session over). */
  detach(link: SessionLink): void {
    if (this.link === link) {
      this.link = null;
      this.resend = [];
    }
  }

  /** Ends the session for good: subscriptions and queues go. */
  end(): void {
    this.ended = true;
    this.journaled = false;
    this.link = null;
    this.expiryTimer?.cancel();
    this.expiryTimer = null;
    this.dropSubscriptions();
    this.ctx.releaseQueueBytes(this.queuedBytes);
    this.queuedBytes = 0;
    this.queue.clear();
    this.resend = [];
    this.inflight.clear();
    this.inboundQos2.clear();
  }

  private failed(where: string, err: unknown): void {
    if (this.link) this.link.internalError(where, err);
    else {
      this.ctx.stats.internalErrors++;
      this.ctx.log(`mqtt: session ${JSON.stringify(this.clientId)}: internal error in ${where}: ${String(err)}`);
    }
  }

  // ---- storage ------------------------------------------------------------------------------------------------

  snapshot(): StoredSession {
    return {
      clientId: this.clientId,
      expiry: this.expiry,
      disconnectedAt: this.disconnectedAt,
      subscriptions: [...this.subscriptions].map(([filter, sub]) => ({ filter, options: { ...sub.options } })),
      inflight: [...this.inflight.values()].map(storeDelivery),
      queue: [...this.queue].map(storeDelivery),
      inboundQos2: [...this.inboundQos2],
    };
  }

  /**
   * Loads a stored session (subscriptions are made again through the port, for the current identity). Read back
   * from a journal (every delivery has its offset), it goes on journaling where it was; otherwise, with a journal,
   * it is written to it whole.
   */
  restore(stored: StoredSession): void {
    this.expiry = stored.expiry;
    if (this.disconnectedAt === 0) this.disconnectedAt = stored.disconnectedAt;
    const journal = this.ctx.journal;
    const fromJournal = journal !== null && stored.inflight.every((d) => d.offset !== undefined) && stored.queue.every((d) => d.offset !== undefined);
    // Loaded as it is: deliveries the bounds refuse now leave the journal (completed()), nothing is journaled twice.
    this.journaled = fromJournal;
    for (const id of stored.inboundQos2) this.ownInboundQos2().add(id);
    for (const s of stored.inflight) {
      const d = loadDelivery(s);
      if (this.inflight.has(d.packetId)) {
        this.completed(d);
        continue;
      }
      this.ownInflight().set(d.packetId, d);
      if (d.packetId >= this.nextPacketId) this.nextPacketId = d.packetId === 65_535 ? 1 : d.packetId + 1;
    }
    this.journaled = false;
    for (const s of stored.queue) {
      const d = loadDelivery(s);
      this.journaled = fromJournal && d.logOffset !== 0;
      this.enqueue(d);
    }
    this.journaled = false;
    for (const { filter, options } of stored.subscriptions) {
      const shared = parseSharedFilter(filter);
      const inner = shared && shared !== 'invalid' ? shared.filter : filter;
      const target = subscribeTarget(inner, this.identity);
      if (target.kind === 'refused' || shared === 'invalid') continue;
      this.subscribe(filter, target.routingFilter, shared ? shared.group : null, { ...options, view: target.view });
    }
    if (fromJournal) {
      this.journaled = true;
      this.journalRecord();
    } else if (journal !== null && this.expiry > 0) this.setExpiry(this.expiry);
  }

  /** The topic the client sees for a delivery. */
  topicOf(delivery: Delivery): string {
    return clientTopic(delivery.message.topic, delivery.view, this.identity);
  }
}

function storeDelivery(d: Delivery): StoredDelivery {
  const out: StoredDelivery = { ...storedMessage(d.message, d.qos, d.retain), subscriptionIds: [...d.subscriptionIds], view: d.view };
  if (d.state !== 'queued') {
    out.packetId = d.packetId;
    out.state = d.state;
  }
  if (d.logOffset !== 0) out.offset = d.logOffset;
  return out;
}

function loadDelivery(s: StoredDelivery): Delivery {
  return {
    message: loadedMessage(s),
    qos: s.qos,
    retain: s.retain,
    subscriptionIds: s.subscriptionIds,
    view: s.view,
    packetId: s.packetId ?? 0,
    state: s.state ?? 'queued',
    logOffset: s.offset ?? 0,
  };
}
