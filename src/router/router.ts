// Channels, the CID index and retained signals (docs/protocol.md §5). Knows tags, subscribers and delivery groups;
// never a socket, a uWS topic or a transport.
import type { Stats } from '../metrics/stats.js';
import { retag } from '../protocol/messages.js';
import { Outbound, SERVER, type Publisher } from '../delivery/outbound.js';
import type { ChannelMembers, DeliveryGroup, LocalGroup, LocalMembers } from '../delivery/group.js';
import { NativeTopicGroup, type PublishTopic } from '../delivery/native-topic-group.js';
import { StreamGroup } from '../delivery/stream-group.js';
import { Channel, type RetainedEntry, type Subscriber, type SubscriberRecord, type Subscription } from './channel.js';
import type { ChannelTap, CidDirectory, RouterHooks, RouterKeeper } from './extension.js';
import { channelKey, isReservedTag, isRetainedKey, unicastTopic, CID_PREFIX } from './tags.js';
import { ThrottledLog } from '../logging/throttled-log.js';
import { randomBase64url } from '../crypto/random-pool.js';
import { SERVER_HOLDER, SharedCap, type ShareHolder, type ShareOwner, type ShareRefusal } from './cap-shares.js';
import type { RetainOptions, ShareLimits } from '../policies.js';
import { RetainedTable } from './retained-table.js';

/** Subscriptions left per event-loop turn when a connection goes: a million of them must not stall the broker. */
const TEARDOWN_SLICE = 1000;
const NO_SUBSCRIPTIONS: ReadonlyMap<string, Subscription> = new Map();

type JoinResult = 'ok' | 'subscription-cap' | ShareRefusal;
type CapLog = 'subscriptions' | 'channels' | 'channelShare' | 'retained' | 'retainedShare';

/** What the router reads of the server's options (ServerOptions has all of it). */
export interface RouterOptions {
  /** Channels one connection may subscribe to. */
  readonly maxSubscriptionsPerConnection: number;
  /** Channels in the broker, and bytes of retained signals of both kinds. */
  readonly maxChannels: number;
  readonly maxRetainedBytes: number;
  /** What one owner may hold of each global cap, and the logged-in reserve (cap-shares.ts). */
  readonly capShares: ShareLimits;
  readonly retain: Readonly<RetainOptions>;
  /** Only publishCounter matters here: a publish reaches at most that many receivers, the earliest first. */
  readonly useQuota: { readonly publishCounter: boolean };
  readonly log: (line: string) => void;
}

/** Every global cap a client can fill, each with per-owner shares and a reserve for logged-in sessions. */
export interface RouterShares {
  /** Channels with local subscribers, charged to the session that created them (its first local subscriber). */
  readonly channels: SharedCap;
  /** Bytes of retained values (channel and CID), charged to whoever wrote the current value. */
  readonly retainedBytes: SharedCap;
  /** Channel-retained entries (`retain.limitCounter`), charged likewise. */
  readonly retainedEntries: SharedCap;
}

export type PublishResult =
  | { ok: true; delivered: number }
  | { ok: false; reason: 'reserved' | 'offline' | 'no-subscriber' | 'tag-too-long' | 'members-only' };

/** `S`: the broker's connection type (what `cids` hands back). */
export class Router<S extends Subscriber = Subscriber> {
  readonly channels = new Map<string, Channel>();
  /** cid → the local connection holding it. */
  readonly cids = new Map<string, S>();
  /** Subscriptions and CID-retained signals of each subscriber that has any (made on first use). */
  private readonly records = new Map<Subscriber, SubscriberRecord>();
  /**
   * Channel-retained messages by channel key, each with who published it (so a replay names its publisher;
   * CID-retained: the CID itself) and who wrote it (its charge in `shares`: null for the server and other nodes).
   */
  readonly retained = new RetainedTable();
  /** Framed streams and encrypted sessions; also carries unicasts and server broadcasts. */
  readonly stream: StreamGroup;
  /** Plain WebSocket subscribers on uWS topics; null without a WebSocket listener or under the publishCounter quota. */
  native: NativeTopicGroup | null = null;
  private readonly hooks: RouterHooks[] = [];
  /** Where CIDs held by other processes are found; null on a single node. */
  directory: CidDirectory | null = null;
  /** Receivers outside the channel map (MQTT sessions); null when no MQTT listener is on. */
  tap: ChannelTap | null = null;
  /** Keys wanted by something other than a channel subscriber (the tap's exact and pattern interest), counted. */
  private readonly outsideInterest = new Map<string, number>();
  /** Where retained values and history signals are kept across restarts (broker/durability.ts); null: nowhere. */
  keeper: RouterKeeper | null = null;
  readonly shares: RouterShares;
  /** Cap refusals are logged at most once a second per kind, so a flood cannot flood the log. */
  private readonly capLogs: Record<CapLog, ThrottledLog>;

  constructor(
    private readonly options: RouterOptions,
    readonly stats: Stats,
  ) {
    const log = (): ThrottledLog => new ThrottledLog(options.log);
    this.capLogs = { subscriptions: log(), channels: log(), channelShare: log(), retained: log(), retainedShare: log() };
    const limits = options.capShares;
    this.shares = {
      channels: new SharedCap(options.maxChannels, limits),
      retainedBytes: new SharedCap(options.maxRetainedBytes, limits),
      retainedEntries: new SharedCap(options.retain.limitCounter, limits),
    };
    this.stream = new StreamGroup(stats);
  }

  /**
   * Native pub/sub is used only when every native subscriber gets the same bytes, in full: the publishCounter
   * quota, which cuts a fan-out short, keeps every subscriber on the stream path.
   */
  attachNativeTopics(publish: PublishTopic): void {
    if (this.options.useQuota.publishCounter || this.native) return;
    this.native = new NativeTopicGroup(publish, this.stats);
  }

  /** Bytes held by retained messages, channel- and CID-retained (bounded by maxRetainedBytes). */
  get retainedBytes(): number {
    return this.shares.retainedBytes.used;
  }

  /** Registers hooks; returns a function that removes them. */
  addHooks(hooks: RouterHooks): () => void {
    this.hooks.push(hooks);
    return () => {
      const at = this.hooks.indexOf(hooks);
      if (at >= 0) this.hooks.splice(at, 1);
    };
  }

  // ---- CIDs -------------------------------------------------------------------------------

  /** An anonymous CID (`?` + base64url of 3 random bytes), new while the candidate is held anywhere (Q22). */
  assignAnonymousCid(sub: S): string {
    const dir = this.directory;
    let cid: string;
    do {
      cid = dir?.anonymousCid ? dir.anonymousCid() : this.randomCid();
    } while (this.cids.has(cid) || dir?.holds?.(cid) || this.tap?.holds(cid));
    this.setCid(sub, cid);
    return cid;
  }

  /** An anonymous CID held by nobody yet, for a holder outside the index (the tap), which announces it itself. */
  freshAnonymousCid(): string {
    const dir = this.directory;
    let cid: string;
    do {
      cid = dir?.anonymousCid ? dir.anonymousCid() : this.randomCid();
    } while (this.cids.has(cid) || dir?.holds?.(cid) || this.tap?.holds(cid));
    return cid;
  }

  /** A holder outside the index (the tap) took or released `cid`: the hooks (a cluster's CID lease) are told. */
  announceCid(cid: string, held: boolean): void {
    for (const hooks of this.hooks) hooks.cid?.(cid, held);
  }

  /**
   * Interest in `key` from outside the channel map (the tap's subscriptions), counted per key: the interest hooks
   * hear of it when the key is first wanted by anyone and when nobody wants it any more.
   */
  holdInterest(key: string, held: boolean): void {
    const before = this.outsideInterest.get(key) ?? 0;
    const after = Math.max(0, before + (held ? 1 : -1));
    if (after === 0) this.outsideInterest.delete(key);
    else this.outsideInterest.set(key, after);
    const local = (this.channels.get(key)?.subscribers.size ?? 0) > 0;
    if (local) return;
    if (before === 0 && after > 0) for (const hooks of this.hooks) hooks.interest?.(key, true);
    else if (before > 0 && after === 0) for (const hooks of this.hooks) hooks.interest?.(key, false);
  }

  private randomCid(): string {
    return '?' + randomBase64url(3);
  }

  /** Gives `sub` a CID, dropping its previous index entry. */
  setCid(sub: S, cid: string): void {
    this.releaseCid(sub);
    sub.cid = cid;
    this.cids.set(cid, sub);
    for (const hooks of this.hooks) hooks.cid?.(cid, true);
  }

  private releaseCid(sub: Subscriber): void {
    if (!sub.cid || this.cids.get(sub.cid) !== sub) return;
    this.cids.delete(sub.cid);
    for (const hooks of this.hooks) hooks.cid?.(sub.cid, false);
  }

  // ---- subscriptions ------------------------------------------------------------------------

  /**
   * SUBSCRIBE: every comma-separated element, empty ones included; retained messages follow. Returns how many
   * were refused by the subscription or the channel cap (counted and logged here).
   */
  subscribe(sub: Subscriber, tagList: string): number {
    let refusedSubs = 0;
    let refusedChannels = 0;
    let refusedShare = 0;
    for (const tag of tagList.split(',')) {
      const key = channelKey(tag, sub.home);
      const joined = this.join(sub, key);
      if (joined === 'subscription-cap') refusedSubs++;
      else if (joined === 'cap') refusedChannels++;
      else if (joined === 'share') refusedShare++;
      else if (isRetainedKey(key) && this.options.retain.isAvailable) {
        const kept = this.retainedFor(key);
        if (kept) this.stream.deliverTo(sub.receiver, new Outbound(kept, this.retainedPublisher(key)));
      }
    }
    if (refusedSubs > 0) {
      this.stats.refusedSubscriptions += refusedSubs;
      this.report(sub, 'subscriptions', `${refusedSubs} subscriptions refused: the cap is ${this.options.maxSubscriptionsPerConnection} per connection`);
    }
    if (refusedChannels > 0) {
      this.stats.refusedChannels += refusedChannels;
      const { channels } = this.shares;
      const anonymous = !sub.authorized && channels.anonymousCap < channels.cap;
      const which = anonymous ? `the anonymous part of the channel cap (${channels.anonymousCap} of ${channels.cap}; the rest is kept for logged-in devices)` : `the channel cap of ${channels.cap}`;
      this.report(sub, 'channels', `${refusedChannels} new channels refused: ${which} is reached`);
    }
    if (refusedShare > 0) {
      this.stats.refusedChannelShare += refusedShare;
      this.report(sub, 'channelShare', `${refusedShare} new channels refused: ${this.ownerText(sub)} holds its share of ${this.shares.channels.perOwner} channels`);
    }
    return refusedSubs + refusedChannels + refusedShare;
  }

  private report(sub: Subscriber | null, kind: CapLog, line: string): void {
    this.capLogs[kind].write(line, sub ? (text) => sub.report(text) : undefined);
  }

  private ownerText(holder: ShareHolder): string {
    const owner = holder.shareOwner ?? '';
    return owner.startsWith('d:') ? `device "${owner.slice(2)}"` : `its address (${owner.slice(2)})`;
  }

  private retainedFor(key: string): Buffer | undefined {
    const at = key.indexOf('@');
    if (at < 0) return this.retained.get(key);
    const cid = key.slice(CID_PREFIX.length, at);
    const owner = this.cids.get(cid);
    if (owner) return this.records.get(owner)?.retained?.get(key.slice(at + 1))?.msg;
    return this.directory?.retainedFor?.(cid, key.slice(at + 1));
  }

  /** The CID-retained message `topic` (`$x`) of the local holder of `cid` (for other nodes' subscribers). */
  cidRetained(cid: string, topic: string): Buffer | undefined {
    const holder = this.cids.get(cid);
    return holder ? this.records.get(holder)?.retained?.get(topic)?.msg : undefined;
  }

  /** The CID-retained entry `topic` of the local holder of `cid`, with the owner its bytes are charged to. */
  cidRetainedEntry(cid: string, topic: string): RetainedEntry | undefined {
    const holder = this.cids.get(cid);
    return holder ? this.records.get(holder)?.retained?.get(topic) : undefined;
  }

  /** Who the channel-retained value of `key` is charged to (null: the server, the admin level or another node). */
  retainedOwner(key: string): ShareOwner {
    const loc = this.retained.find(key);
    return loc < 0 ? null : this.retained.ownerAt(loc);
  }

  // ---- what the router keeps per subscriber ----------------------------------------------------

  private recordOf(sub: Subscriber): SubscriberRecord {
    let record = this.records.get(sub);
    if (!record) {
      record = { subscriptions: new Map(), retained: null, sharedMessages: 0, sharedBytes: 0 };
      this.records.set(sub, record);
    }
    return record;
  }

  /** Channel key → membership of `sub`, in subscription order. */
  subscriptionsOf(sub: Subscriber): ReadonlyMap<string, Subscription> {
    return this.records.get(sub)?.subscriptions ?? NO_SUBSCRIPTIONS;
  }

  /** Topics (`$x`) of the CID-retained messages `sub` published. */
  retainedTopicsOf(sub: Subscriber): string[] {
    const retained = this.records.get(sub)?.retained;
    return retained ? [...retained.keys()] : [];
  }

  retainedCountOf(sub: Subscriber): number {
    return this.records.get(sub)?.retained?.size ?? 0;
  }

  /** CID-retained messages held by every local subscriber. */
  cidRetainedCount(): number {
    let n = 0;
    for (const record of this.records.values()) n += record.retained?.size ?? 0;
    return n;
  }

  /**
   * What groups that count per channel (one native publish for many) sent `sub`: settled shares of channels it
   * left that way, plus what its current memberships got since it joined them.
   */
  sharedTo(sub: Subscriber): { messages: number; bytes: number } {
    const record = this.records.get(sub);
    if (!record) return { messages: 0, bytes: 0 };
    let messages = record.sharedMessages;
    let bytes = record.sharedBytes;
    for (const { members, messagesAtJoin, bytesAtJoin } of record.subscriptions.values()) {
      if (members.sentMessages !== undefined) messages += members.sentMessages - messagesAtJoin;
      if (members.sentBytes !== undefined) bytes += members.sentBytes - bytesAtJoin;
    }
    return { messages, bytes };
  }

  /**
   * The publisher of the retained message of `key`: kept with a channel's (null: the server), the CID of a
   * CID-retained one.
   */
  retainedPublisher(key: string): Publisher {
    const at = key.indexOf('@');
    if (at >= 0) return key.slice(CID_PREFIX.length, at);
    const loc = this.retained.find(key);
    return loc < 0 ? '' : this.retained.publisherAt(loc);
  }

  private channelFor(key: string): Channel {
    let channel = this.channels.get(key);
    if (!channel) {
      channel = new Channel(key);
      this.channels.set(key, channel);
    }
    return channel;
  }

  /**
   * A channel with local subscribers is charged, as one unit of `shares.channels`, to the session that gave it
   * its first one (the creator), until its last local subscriber leaves. Channels other nodes alone want (the
   * remote group) are not charged: they are bounded by those nodes' own caps. Joining an existing channel costs
   * nothing, so the rule cannot be gamed by joining, and the check runs only when a channel is created.
   */
  private join(sub: Subscriber, key: string): JoinResult {
    const record = this.recordOf(sub);
    const { subscriptions } = record;
    if (subscriptions.has(key)) return 'ok';
    if (subscriptions.size >= this.options.maxSubscriptionsPerConnection) return 'subscription-cap';
    let channel = this.channels.get(key);
    if (!channel || channel.subscribers.size === 0) {
      const refused = this.shares.channels.refusal(sub, 1);
      if (refused) return refused;
      channel ??= this.channelFor(key);
      channel.owner = sub.shareOwner;
      this.shares.channels.charge(channel.owner, 1);
    }
    channel.subscribers.add(sub);
    const subscription: Subscription = { channel, members: this.place(sub, channel), messagesAtJoin: 0, bytesAtJoin: 0 };
    this.noteJoin(subscription);
    subscriptions.set(key, subscription);
    if (channel.subscribers.size === 1 && !this.outsideInterest.has(key)) for (const hooks of this.hooks) hooks.interest?.(key, true);
    return 'ok';
  }

  /** The group a subscriber is reached through: native topics when its session shares plain bytes, else its stream. */
  private groupFor(sub: Subscriber): LocalGroup {
    return this.native && sub.receiver.topicSocket() ? this.native : this.stream;
  }

  private place(sub: Subscriber, channel: Channel): LocalMembers {
    const group = this.groupFor(sub);
    const members = this.localMembers(channel, group);
    if (members.add(sub.receiver)) return members;
    if (members.size === 0) channel.detach(members);
    const stream = this.localMembers(channel, this.stream);
    stream.add(sub.receiver);
    return stream;
  }

  private localMembers(channel: Channel, group: LocalGroup): LocalMembers {
    let members = channel.membersOf<LocalMembers>(group);
    if (!members) {
      members = group.createMembers(channel.key);
      channel.attach(members);
    }
    return members;
  }

  private noteJoin(subscription: Subscription): void {
    subscription.messagesAtJoin = subscription.members.sentMessages ?? 0;
    subscription.bytesAtJoin = subscription.members.sentBytes ?? 0;
  }

  private detach(sub: Subscriber, record: SubscriberRecord, subscription: Subscription): void {
    const { members, channel } = subscription;
    members.delete(sub.receiver);
    if (members.sentMessages !== undefined) {
      record.sharedMessages += members.sentMessages - subscription.messagesAtJoin;
      record.sharedBytes += (members.sentBytes ?? 0) - subscription.bytesAtJoin;
    }
    if (members.size === 0) channel.detach(members);
  }

  /** Re-places every subscription after the session's delivery needs changed (encryption on, over its limit…). */
  refreshDelivery(sub: Subscriber): void {
    const record = this.records.get(sub);
    if (!record) return;
    const group = this.groupFor(sub);
    for (const subscription of record.subscriptions.values()) {
      if (subscription.members.group === group) continue;
      this.detach(sub, record, subscription);
      subscription.members = this.place(sub, subscription.channel);
      this.noteJoin(subscription);
    }
  }

  unsubscribe(sub: Subscriber, tagList: string): void {
    const record = this.records.get(sub);
    if (!record) return;
    for (const tag of tagList.split(',')) this.leave(sub, record, channelKey(tag, sub.home));
  }

  unsubscribeAll(sub: Subscriber): void {
    const record = this.records.get(sub);
    if (!record) return;
    for (const key of [...record.subscriptions.keys()]) this.leave(sub, record, key);
  }

  /**
   * Leaves every channel of a closed connection, a slice per event-loop turn, so a connection with very many
   * subscriptions does not stall the others. Meanwhile its link is closed, so deliveries to it are no-ops. The
   * record goes once the last slice is done.
   */
  private leaveAllSliced(sub: Subscriber, record: SubscriberRecord): void {
    const keys = record.subscriptions.keys();
    const slice = (): void => {
      for (let n = 0; n < TEARDOWN_SLICE; n++) {
        const next = keys.next();
        if (next.done) {
          if (this.records.get(sub) === record) this.records.delete(sub);
          return;
        }
        this.leave(sub, record, next.value);
      }
      setImmediate(slice);
    };
    slice();
  }

  private leave(sub: Subscriber, record: SubscriberRecord, key: string): void {
    const subscription = record.subscriptions.get(key);
    if (!subscription) return;
    this.detach(sub, record, subscription);
    record.subscriptions.delete(key);
    const { channel } = subscription;
    channel.subscribers.delete(sub);
    if (channel.subscribers.size === 0) {
      this.shares.channels.charge(channel.owner, -1);
      channel.owner = null;
      if (!this.outsideInterest.has(key)) for (const hooks of this.hooks) hooks.interest?.(key, false);
    }
    this.dropIfEmpty(channel);
  }

  private dropIfEmpty(channel: Channel): void {
    if (channel.empty && this.channels.get(channel.key) === channel) this.channels.delete(channel.key);
  }

  /** A non-local group (remote nodes) starts reaching channel `key`. */
  attachMembers(key: string, members: ChannelMembers): void {
    if (this.tap?.attachMembers(key, members)) return;
    this.channelFor(key).attach(members);
  }

  detachMembers(key: string, members: ChannelMembers): void {
    if (this.tap?.detachMembers(key, members)) return;
    const channel = this.channels.get(key);
    if (!channel) return;
    channel.detach(members);
    this.dropIfEmpty(channel);
  }

  // ---- publishing ---------------------------------------------------------------------------

  /**
   * Routes a SIGNAL / SIGNAL_E2E `msg` whose tag is `tag` (docs/protocol.md §5.4). `msg` may be a view
   * into a transient buffer: it is copied before anything keeps it. `keep` false: a retained key is delivered but
   * not kept (the publisher may publish there but not retain).
   */
  publish(sub: Subscriber, msg: Uint8Array, tag: string, keep = true): PublishResult {
    if (isReservedTag(tag)) return { ok: false, reason: 'reserved' };
    const at = tag.indexOf('@');
    const owner = sub.shareOwner ?? '';
    if (at > 0) return this.unicast(msg, tag, at, sub.cid, owner);
    if (at === 0) {
      tag = sub.cid + tag;
      const rewritten = retag(msg, tag);
      if (!rewritten) return { ok: false, reason: 'tag-too-long' };
      msg = rewritten;
    }
    const key = channelKey(tag, sub.home);
    if (keep && isRetainedKey(key)) this.keep(sub, key, msg);
    const keeper = this.keeper;
    if (keeper?.keepsHistory(key)) keeper.published(key, msg);
    const budget = this.options.useQuota.publishCounter ? sub.quota.publishCounter : Infinity;
    return this.fanOutKey(key, msg, budget, sub.cid, owner);
  }

  /** A publish on `key` here: its channel's groups and the tap; 'no-subscriber' when neither reached anyone. */
  private fanOutKey(key: string, msg: Uint8Array, budget: number, publisher: Publisher, owner = ''): PublishResult {
    const channel = this.channels.get(key);
    if (!channel && !this.tap) return { ok: false, reason: 'no-subscriber' };
    const delivered = this.fanOut(key, channel, msg, budget, null, true, publisher, owner);
    if (!channel && delivered === 0) return { ok: false, reason: 'no-subscriber' };
    this.stats.publishes++;
    return { ok: true, delivered };
  }

  /**
   * A signal sent by the server itself (dashboard, admin API): to a plain channel or a `cid@topic`
   * unicast. Home channels and CID publishes need a publishing connection, so they are refused.
   */
  publishFromServer(msg: Uint8Array, tag: string): PublishResult {
    if (isReservedTag(tag) || tag.startsWith('#') || tag.startsWith('@')) return { ok: false, reason: 'reserved' };
    const at = tag.indexOf('@');
    if (at > 0) return this.unicast(msg, tag, at, SERVER);
    const key = channelKey(tag, '');
    const { retain } = this.options;
    if (isRetainedKey(key) && retain.isAvailable && msg.length < retain.limitSize) this.retainForChannel(key, msg, SERVER);
    const keeper = this.keeper;
    if (keeper?.keepsHistory(key)) keeper.published(key, msg);
    return this.fanOutKey(key, msg, Infinity, SERVER);
  }

  /**
   * A channel message that arrived from elsewhere (the cluster bus): delivered to every group of channel `key`
   * except `origin`, so it never goes back where it came from, to at most `budget` receivers (the publisher's
   * publishCounter quota). `publisher`: as the bus reported it ('' when unknown). Returns the receivers reached.
   */
  deliverFromRemote(key: string, msg: Uint8Array, origin: DeliveryGroup | null, budget = Infinity, publisher: Publisher = ''): number {
    const channel = this.channels.get(key);
    if (!channel && !this.tap) return 0;
    return this.fanOut(key, channel, msg, budget, origin, false, publisher);
  }

  /** A unicast that arrived from elsewhere, already retagged `@topic`; false when `cid` is not held here. */
  deliverToCid(cid: string, msg: Uint8Array, publisher: Publisher = ''): boolean {
    const target = this.cids.get(cid);
    if (!target) return this.tap?.unicast(cid, new Outbound(msg, publisher)) ?? false;
    this.stream.deliverTo(target.receiver, new Outbound(msg, publisher));
    return true;
  }

  private unicast(msg: Uint8Array, tag: string, at: number, publisher: Publisher, owner = ''): PublishResult {
    const cid = tag.slice(0, at);
    const target = this.cids.get(cid);
    const tapped = !target && this.tap?.holds(cid) === true;
    if (!target && !tapped && !this.directory) return { ok: false, reason: 'offline' };
    const rewritten = retag(msg, '@' + unicastTopic(tag, at));
    if (!rewritten) return { ok: false, reason: 'tag-too-long' };
    const out = new Outbound(rewritten, publisher, owner);
    if (target) this.stream.deliverTo(target.receiver, out);
    else if (tapped) this.tap!.unicast(cid, out);
    else if (!this.directory!.unicast(cid, out)) return { ok: false, reason: 'offline' };
    this.stats.publishes++;
    return { ok: true, delivered: 1 };
  }

  /** Stores a retained message; a full store still accepts updates to existing keys (Q24). */
  private keep(sub: Subscriber, key: string, msg: Uint8Array): void {
    const { retain } = this.options;
    if (!retain.isAvailable || msg.length >= retain.limitSize) return;
    const at = key.indexOf('@');
    if (at < 0) return this.retainForChannel(key, msg, sub.cid, sub);
    const topic = key.slice(at + 1);
    const record = this.recordOf(sub);
    const previous = record.retained?.get(topic);
    const owner = sub.shareOwner;
    if (!this.retainedFits(key, previous?.msg.length ?? 0, previous?.owner, msg.length, sub)) return;
    // At its own entry limit only existing topics are updated.
    const store = (record.retained ??= new Map<string, RetainedEntry>());
    if (store.size >= retain.limitPerConnection && !previous) return;
    const kept = Buffer.from(msg);
    store.set(topic, { msg: kept, owner });
    if (previous) this.shares.retainedBytes.charge(previous.owner, -previous.msg.length);
    this.shares.retainedBytes.charge(owner, msg.length);
    if (sub.authorized) this.keeper?.cidRetained(sub.cid, topic, kept, owner);
  }

  /**
   * A logged-in session's CID-retained values read back from the store (its CID is stable across restarts), within
   * the caps as a publish would be; returns how many were taken. Nothing is written back: the store has them.
   */
  restoreCidRetained(sub: S, values: Iterable<[topic: string, msg: Buffer, owner: ShareOwner]>): number {
    const record = this.recordOf(sub);
    let taken = 0;
    for (const [topic, msg, owner] of values) {
      const store = (record.retained ??= new Map<string, RetainedEntry>());
      if (store.has(topic) || store.size >= this.options.retain.limitPerConnection) continue;
      if (!this.retainedFits(CID_PREFIX + sub.cid + '@' + topic, 0, undefined, msg.length, sub)) continue;
      store.set(topic, { msg, owner });
      this.shares.retainedBytes.charge(owner, msg.length);
      taken++;
    }
    return taken;
  }

  /**
   * Keeps a channel-retained message (a copy) and who published it, within the store's bounds. `from`: the
   * publishing session, charged for the entry and its bytes (replacing the previous writer's charge); null for the
   * server and other nodes (whose `publisher` is still kept, so a replay names it). `remote`: it came from another
   * node (so the cluster does not write it back to the shared store as this node's own).
   */
  retainForChannel(key: string, msg: Uint8Array, publisher: Publisher, from: Subscriber | null = null, remote = false): void {
    const holder: ShareHolder = from ?? SERVER_HOLDER;
    const table = this.retained;
    const at = table.find(key);
    const previous = at < 0 ? undefined : table.lengthAt(at);
    const previousOwner = at < 0 ? undefined : table.ownerAt(at);
    const own = previous !== undefined && previousOwner === holder.shareOwner;
    const entries = this.shares.retainedEntries;
    const refused = entries.refusal(holder, 1, previous !== undefined ? 1 : 0, own ? 1 : 0);
    if (refused) {
      if (refused === 'cap') this.stats.refusedRetainedEntries++;
      return this.refuseRetained(key, refused, from, `${refused === 'cap' ? 'the retained-channel cap' : 'its share'} of ${refused === 'cap' ? entries.cap : entries.perOwner} entries`);
    }
    if (!this.retainedFits(key, previous ?? 0, previousOwner, msg.length, from)) return;
    const loc = table.set(key, msg, holder.shareOwner, publisher, remote);
    if (loc < 0) return this.refuseRetained(key, 'cap', from, 'the retained table (a key over 64 KiB, or 16 GiB of values)');
    if (previous !== undefined) {
      entries.charge(previousOwner!, -1);
      this.shares.retainedBytes.charge(previousOwner!, -previous);
    }
    entries.charge(holder.shareOwner, 1);
    this.shares.retainedBytes.charge(holder.shareOwner, msg.length);
    this.keeper?.retained(key, table.messageAt(loc), holder.shareOwner);
  }

  /**
   * A channel-retained value read back from the store at start-up: charged to the owner that wrote it, within the
   * caps as it was then (a lowered cap refuses what no longer fits: logged and counted, and cleared in the store).
   */
  restoreRetained(key: string, msg: Buffer, owner: ShareOwner): boolean {
    const holder: ShareHolder = owner === null ? SERVER_HOLDER : { shareOwner: owner, authorized: owner.startsWith('d:') };
    const entries = this.shares.retainedEntries;
    const refused = this.retained.has(key) ? 'cap' : entries.refusal(holder, 1) ?? this.shares.retainedBytes.refusal(holder, msg.length);
    if (refused) {
      this.stats.refusedRetainedEntries++;
      this.keeper?.retained(key, null, null);
      return false;
    }
    // Copied into the table: the store's record (and its own allocation) is let go. No publisher is known: ''.
    if (this.retained.set(key, msg, owner, '') < 0) {
      this.stats.refusedRetainedEntries++;
      this.keeper?.retained(key, null, null);
      return false;
    }
    entries.charge(owner, 1);
    this.shares.retainedBytes.charge(owner, msg.length);
    return true;
  }

  /** Clears a channel-retained value (admin): its charge is given back and the keeper told; false when absent. */
  clearRetained(key: string): boolean {
    const at = this.retained.find(key);
    if (at < 0) return false;
    const owner = this.retained.ownerAt(at);
    this.shares.retainedEntries.charge(owner, -1);
    this.shares.retainedBytes.charge(owner, -this.retained.lengthAt(at));
    this.retained.delete(key);
    this.keeper?.retained(key, null, null);
    return true;
  }

  /**
   * The retained-bytes cap and its shares: replacing `previous` bytes (charged to `previousOwner`, undefined when
   * there were none) by `next` bytes written by `from` (null: the server or another node) must fit.
   */
  private retainedFits(key: string, previous: number, previousOwner: ShareOwner | undefined, next: number, from: Subscriber | null): boolean {
    const holder: ShareHolder = from ?? SERVER_HOLDER;
    const own = previousOwner !== undefined && previousOwner === holder.shareOwner ? previous : 0;
    const bytes = this.shares.retainedBytes;
    const refused = bytes.refusal(holder, next, previous, own);
    if (!refused) return true;
    if (refused === 'cap') this.stats.refusedRetained++;
    const cap = refused === 'cap' ? (holder.authorized ? bytes.cap : bytes.anonymousCap) : bytes.perOwner;
    this.refuseRetained(key, refused, from, `${refused === 'cap' ? 'the retained-bytes cap' : 'its share'} of ${cap} bytes`);
    return false;
  }

  private refuseRetained(key: string, refused: ShareRefusal, from: Subscriber | null, what: string): void {
    if (refused === 'share') {
      this.stats.refusedRetainedShare++;
      const who = from ? this.ownerText(from) : 'its writer';
      return this.report(from, 'retainedShare', `retained message for ${key} refused: ${who} holds ${what}`);
    }
    this.report(from, 'retained', `retained message for ${key} refused: ${what} is reached`);
  }

  /**
   * Sends one message to a channel: encoded once, then each group's share in turn, within `budget` receivers.
   * `local`: published on this node (false: it came from another node, which may not have attached a group here).
   */
  private fanOut(key: string, channel: Channel | undefined, msg: Uint8Array, budget: number, except: DeliveryGroup | null, local: boolean, publisher: Publisher, owner = ''): number {
    const out = new Outbound(msg, publisher, owner);
    const { tap } = this;
    let delivered = 0;
    if (channel) {
      const { groups } = channel;
      if (groups.length === 1 && except === null && tap === null) return groups[0]!.publish(out, budget);
      for (let i = 0; i < groups.length && delivered < budget; i++) {
        const members = groups[i]!;
        if (members.group !== except) delivered += members.publish(out, budget - delivered);
      }
    }
    // The tap (MQTT sessions) after the channel's own groups; a publish that came from another node reaches only
    // what that node addressed to this one.
    if (tap !== null) delivered += tap.publish(key, out, local);
    return delivered;
  }

  // ---- disconnect ---------------------------------------------------------------------------

  /** Forgets a closed connection (§5.8 steps 3–5); the close notices are published by the connection. */
  forget(sub: Subscriber): void {
    const record = this.records.get(sub);
    if (record) {
      // Q25: the connection's retained CID messages go with it; other subscribers keep their entries.
      const retained = record.retained;
      record.retained = null;
      if (retained) for (const { msg, owner } of retained.values()) this.shares.retainedBytes.charge(owner, -msg.length);
      if (retained && sub.authorized) this.closeKeptCid(sub);
      this.leaveAllSliced(sub, record);
    }
    this.releaseCid(sub);
  }

  /**
   * The store forgets a closed logged-in session's CID-retained values as the live view does (Q25). When a
   * replacing login holds the CID already, what it kept meanwhile is handed over again after the drop.
   */
  private closeKeptCid(sub: Subscriber): void {
    const keeper = this.keeper;
    if (!keeper) return;
    keeper.cidClosed(sub.cid);
    const holder = this.cids.get(sub.cid);
    const kept = holder && holder !== sub ? this.records.get(holder)?.retained : null;
    if (kept) for (const [topic, { msg, owner }] of kept) keeper.cidRetained(sub.cid, topic, msg, owner);
  }

  // ---- introspection ------------------------------------------------------------------------

  subscriptionCount(): number {
    let n = 0;
    for (const channel of this.channels.values()) n += channel.subscribers.size;
    return n;
  }
}
