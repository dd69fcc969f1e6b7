// One MQTT session (MQTT 5 §4.1): its subscriptions, the QoS 1/2 messages in flight to the client, the queue of
// messages waiting for it, and the inbound QoS 2 packet identifiers not yet released. It outlives its connections
// while it has an expiry; offline, it stays subscribed and queues (within its bounds).
import { clientTopic, subscribeTarget } from './channel-map.js';
import type { Delivery, EngineContext, SessionLink } from './context.js';
import type { MqttIdentity, MqttMessage, MqttSubscriber, QoS, StoredDelivery, StoredSession, SubscriptionOptions, Verdict } from './port.js';
import { parseSharedFilter } from './topic.js';

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

  // ---- subscriptions -----------------------------------------------------------------------------------------

  /** Adds or replaces the subscription to `filter` (client form); returns the broker's verdict. */
  subscribe(filter: string, routingFilter: string, group: string | null, options: SubscriptionOptions): Verdict {
    const old = this.subscriptions.get(filter);
    if (old && (old.routingFilter !== routingFilter || old.group !== group)) this.ctx.port.unsubscribe(this, old.routingFilter, old.group);
    const verdict = this.ctx.port.subscribe(this, routingFilter, group, options);
    if (verdict === 0) this.subscriptions.set(filter, { routingFilter, group, options });
    else if (old) this.subscriptions.delete(filter);
    return verdict;
  }

  unsubscribe(filter: string): boolean {
    const sub = this.subscriptions.get(filter);
    if (!sub) return false;
    this.subscriptions.delete(filter);
    this.ctx.port.unsubscribe(this, sub.routingFilter, sub.group);
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
    const delivery: Delivery = { message, qos, retain, subscriptionIds, view, packetId: 0, state: 'queued' };
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
      return;
    }
    this.queuedBytes += bytes;
    this.queue.push(delivery);
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
    if (!link.transmit(delivery, false)) this.inflight.delete(id);
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
      if (this.inflight.get(d.packetId) === d && !link.transmit(d, true)) this.inflight.delete(d.packetId);
    }
    while (this.queue.length > 0 && this.inflight.size < link.window) {
      const delivery = this.takeQueued()!;
      const expiresAt = delivery.message.expiresAt;
      if (expiresAt !== undefined && expiresAt <= this.ctx.clock.now()) {
        this.ctx.stats.droppedExpired++;
        continue;
      }
      if (delivery.qos === 0) link.sendQos0(delivery);
      else if (!this.startFlight(delivery, link)) {
        this.putBack(delivery);
        return;
      }
    }
  }

  // ---- acknowledgements (client → server) ---------------------------------------------------------------------

  puback(id: number): void {
    const d = this.inflight.get(id);
    if (d?.qos === 1) {
      this.inflight.delete(id);
      this.pump();
    }
  }

  /** PUBREC: true when the message was known (PUBREL follows), false for an unknown identifier. */
  pubrec(id: number, reasonCode: number): boolean {
    const d = this.inflight.get(id);
    if (d?.qos !== 2) return false;
    if (reasonCode >= 0x80) {
      // The receiver refused it: the exchange ends here [MQTT-4.3.3-4 note, MQTT 5 §4.3.3].
      this.inflight.delete(id);
      this.pump();
      return true;
    }
    d.state = 'pubrel';
    return true;
  }

  pubcomp(id: number): void {
    const d = this.inflight.get(id);
    if (d?.state === 'pubrel') {
      this.inflight.delete(id);
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
        if (!link.transmit(d, true)) this.inflight.delete(id);
        sent++;
      } else this.resend.push(d);
    }
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

  /** Loads a stored session (subscriptions are made again through the port, for the current identity). */
  restore(stored: StoredSession): void {
    this.expiry = stored.expiry;
    for (const id of stored.inboundQos2) this.ownInboundQos2().add(id);
    for (const s of stored.inflight) {
      const d = loadDelivery(s);
      this.ownInflight().set(d.packetId, d);
      if (d.packetId >= this.nextPacketId) this.nextPacketId = d.packetId === 65_535 ? 1 : d.packetId + 1;
    }
    for (const s of stored.queue) this.enqueue(loadDelivery(s));
    for (const { filter, options } of stored.subscriptions) {
      const shared = parseSharedFilter(filter);
      const inner = shared && shared !== 'invalid' ? shared.filter : filter;
      const target = subscribeTarget(inner, this.identity);
      if (target.kind === 'refused' || shared === 'invalid') continue;
      this.subscribe(filter, target.routingFilter, shared ? shared.group : null, { ...options, view: target.view });
    }
  }

  /** The topic the client sees for a delivery. */
  topicOf(delivery: Delivery): string {
    return clientTopic(delivery.message.topic, delivery.view, this.identity);
  }
}

function storeDelivery(d: Delivery): StoredDelivery {
  const m = d.message;
  const out: StoredDelivery = { topic: m.topic, payload: m.payload, qos: d.qos, retain: d.retain, subscriptionIds: [...d.subscriptionIds], view: d.view };
  if (m.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = m.payloadFormatIndicator;
  if (m.contentType !== undefined) out.contentType = m.contentType;
  if (m.responseTopic !== undefined) out.responseTopic = m.responseTopic;
  if (m.correlationData !== undefined) out.correlationData = m.correlationData;
  if (m.userProperties !== undefined) out.userProperties = [...m.userProperties];
  if (m.expiresAt !== undefined) out.expiresAt = m.expiresAt;
  if (d.state !== 'queued') {
    out.packetId = d.packetId;
    out.state = d.state;
  }
  return out;
}

function loadDelivery(s: StoredDelivery): Delivery {
  const message: MqttMessage = {
    topic: s.topic,
    payload: s.payload,
    qos: s.qos,
    retain: s.retain,
    origin: null,
    ...(s.payloadFormatIndicator !== undefined && { payloadFormatIndicator: s.payloadFormatIndicator }),
    ...(s.contentType !== undefined && { contentType: s.contentType }),
    ...(s.responseTopic !== undefined && { responseTopic: s.responseTopic }),
    ...(s.correlationData !== undefined && { correlationData: s.correlationData }),
    ...(s.userProperties !== undefined && { userProperties: s.userProperties }),
    ...(s.expiresAt !== undefined && { expiresAt: s.expiresAt }),
  };
  return {
    message,
    qos: s.qos,
    retain: s.retain,
    subscriptionIds: s.subscriptionIds,
    view: s.view,
    packetId: s.packetId ?? 0,
    state: s.state ?? 'queued',
  };
}
