// The MQTT engine's broker port on iosig's Broker: MQTT topics are iosig channels (channel-map.ts), so an MQTT
// publish goes through the router like any client's SIGNAL (retained `$` channels, CID channels, home channels,
// unicasts, the cluster), and every channel publish reaches MQTT subscribers through the router's tap
// (router/extension.ts: ChannelTap), which matches it against one subscription index of every MQTT filter.
//
// Fidelity: a message an MQTT client published keeps its QoS and MQTT 5 properties on its way to MQTT subscribers
// (here and, in an envelope of its own, on other nodes); iosignal clients get it as a SIGNAL. A signal from an
// iosignal, plain or serial client reaches MQTT subscribers as QoS 0 (iosignal delivery is at most once) with
// the payload mapping of channel-map.ts.
//
// Across nodes: every MQTT filter with subscribers here is an interest key `MQ:<filter>` on the bus; a node that
// publishes on a channel matching another node's filter sends that node one envelope per filter (the MQTT message
// in msgpack), delivered there to the subscribers of exactly that filter.
import { pack, unpack } from 'msgpackr';
import type { Broker } from '../broker/broker.js';
import type { ChannelMembers } from '../delivery/group.js';
import { Outbound } from '../delivery/outbound.js';
import type { Receiver } from '../delivery/receiver.js';
import { decideIdentity } from '../connection/login.js';
import { tokenThrottleId } from '../auth/credentials.js';
import { homePrefix } from '../guard/address.js';
import { throttleKey } from '../guard/login-guard.js';
import { shareOwnerOf, type ShareOwner } from '../router/cap-shares.js';
import type { Subscriber } from '../router/channel.js';
import type { ChannelTap } from '../router/extension.js';
import { MSG, PAYLOAD, QUOTA_TABLE, DEFAULT_LEVEL, ADMIN_LEVEL, type Quota } from '../protocol/codes.js';
import { encodeSignal } from '../protocol/messages.js';
import { channelKeyToRoutingTopic, mqttToSignal, routingTopicToChannel, signalToMqtt, unicastRoutingTopic, SYS_NS } from './channel-map.js';
import { RC } from './codes.js';
import type { UserProperty } from './inspect.js';
import { MemorySessionStore } from './memory-broker.js';
import type {
  AuthRequest,
  AuthResult,
  Disconnectable,
  MqttBrokerPort,
  MqttIdentity,
  MqttMessage,
  MqttPublisher,
  MqttSubscriber,
  QoS,
  SessionStore,
  SubscriptionOptions,
  Verdict,
} from './port.js';
import { LOGIN_EXPIRED } from './port.js';
import { MatchFanOut } from './fan-out.js';
import { PublishQuota } from './publish-quota.js';
import { RetainedStore } from './retained-store.js';
import { TopicIndex } from './topic-index.js';
import { hasWildcard, topicMatches } from './topic.js';
import type { AccessIdentity } from '../access/check.js';
import { channelFilter } from '../access/pattern.js';
import type { Grants } from '../access/grants.js';
import { mqttPresented } from './presented.js';
import { MqttReadCheck } from './read-check.js';
import type { FilterVerdict } from '../access/engine.js';

/** What a client may do on a channel: the seam where access control (issue 18) decides for MQTT clients. */
export type MqttAction = 'publish' | 'subscribe';

/**
 * `(identity, action, channel) → allowed`. `channel` is the iosig channel key when the topic names one
 * (`CH:sensor/temp`, `CID:D1@temp`, `PRIVATE:#lab`), the routing topic or filter otherwise (`sensor/+`,
 * `$iosig/to/D1/cmd`, `$SYS/#`). The default allows everything (iosig had no per-channel rights before issue 18).
 */
export type MqttAccessCheck = (identity: MqttIdentity, action: MqttAction, channel: string) => boolean;

export interface IosigPortOptions {
  /** MQTT retained messages kept (topics without iosig's `$`), and their payload bytes. */
  maxRetained: number;
  maxRetainedBytes: number;
  accessCheck?: MqttAccessCheck;
  /** Where persistent sessions are kept (default: in memory, lost at a restart). */
  sessions?: SessionStore;
}

/** Interest keys of MQTT filters on the bus: `MQ:` + the filter with `%` and `$` escaped (a `$` marks retained keys). */
export const MQTT_INTEREST_PREFIX = 'MQ:';

export function filterInterestKey(filter: string): string {
  return MQTT_INTEREST_PREFIX + filter.replace(/%/g, '%25').replace(/\$/g, '%24');
}

export function interestKeyFilter(key: string): string | null {
  if (!key.startsWith(MQTT_INTEREST_PREFIX)) return null;
  return key.slice(MQTT_INTEREST_PREFIX.length).replace(/%24/g, '$').replace(/%25/g, '%');
}

/** Beside an MQTT identity: the certificate it presented, and the rights an outside source gave it. */
interface LoginExtras {
  readonly certificate: string | null;
  readonly grants?: Grants | null;
  readonly superuser?: boolean;
}
const CLOSE_TEXT = Buffer.from('close\0');
const SIGNAL_PAYLOAD_TYPES = new Set<number>(Object.values(PAYLOAD));

/** A routing topic and an iosig SIGNAL (or SIGNAL_E2E, which MQTT clients cannot read) as an MQTT message. */
function messageOfSignal(topic: string, msg: Uint8Array): MqttMessage | null {
  if (msg.length < 3 || msg[0] !== MSG.SIGNAL) return null;
  const tagEnd = 2 + msg[1]!;
  if (tagEnd >= msg.length) return null;
  const type = msg[tagEnd]!;
  if (!SIGNAL_PAYLOAD_TYPES.has(type)) return null;
  const raw = msg.subarray(tagEnd + 1);
  const mapped = signalToMqtt(type, Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  return { topic, payload: mapped.payload, qos: 0, retain: false, payloadFormatIndicator: mapped.payloadFormatIndicator, contentType: mapped.contentType, origin: null };
}

/** The tag of a SIGNAL (for the `@topic` of a unicast). */
function signalTag(msg: Uint8Array): string {
  return Buffer.from(msg.buffer, msg.byteOffset + 2, Math.min(msg[1] ?? 0, msg.length - 2)).toString('utf8');
}

// ---- the cluster envelope of an MQTT message ---------------------------------------------------------------------

interface Carried {
  t: string;
  p: Buffer;
  q: number;
  r?: boolean;
  f?: boolean;
  c?: string;
  rt?: string;
  cd?: Buffer;
  up?: Array<[string, string]>;
  e?: number;
}

export function encodeCarried(message: MqttMessage): Buffer {
  const c: Carried = { t: message.topic, p: message.payload, q: message.qos };
  if (message.retain) c.r = true;
  if (message.payloadFormatIndicator !== undefined) c.f = message.payloadFormatIndicator;
  if (message.contentType !== undefined) c.c = message.contentType;
  if (message.responseTopic !== undefined) c.rt = message.responseTopic;
  if (message.correlationData !== undefined) c.cd = message.correlationData;
  if (message.userProperties?.length) c.up = message.userProperties.map(([k, v]) => [k, v]);
  if (message.expiresAt !== undefined) c.e = message.expiresAt;
  return pack(c);
}

const isStr = (v: unknown): v is string => typeof v === 'string';

/** The message another node sent, or null when the bytes are not one (never throws). */
export function decodeCarried(bytes: Uint8Array): MqttMessage | null {
  let c: unknown;
  try {
    c = unpack(bytes);
  } catch {
    return null;
  }
  if (c === null || typeof c !== 'object') return null;
  const o = c as Record<string, unknown>;
  if (!isStr(o['t']) || !(o['p'] instanceof Uint8Array) || (o['q'] !== 0 && o['q'] !== 1 && o['q'] !== 2)) return null;
  const up = o['up'];
  const props = Array.isArray(up) && up.every((x) => Array.isArray(x) && x.length === 2 && isStr(x[0]) && isStr(x[1])) ? (up as UserProperty[]) : undefined;
  const p = o['p'];
  return {
    topic: o['t'],
    payload: Buffer.from(p.buffer, p.byteOffset, p.byteLength),
    qos: o['q'] as QoS,
    retain: o['r'] === true,
    ...(typeof o['f'] === 'boolean' ? { payloadFormatIndicator: o['f'] } : {}),
    ...(isStr(o['c']) ? { contentType: o['c'] } : {}),
    ...(isStr(o['rt']) ? { responseTopic: o['rt'] } : {}),
    ...(o['cd'] instanceof Uint8Array ? { correlationData: Buffer.from(o['cd']) } : {}),
    ...(props ? { userProperties: props } : {}),
    ...(typeof o['e'] === 'number' ? { expiresAt: o['e'] } : {}),
    origin: null,
  };
}

// ---- an MQTT client as the router's publisher -------------------------------------------------------------------

/** An MQTT session as the router sees its publisher: CID, home, quota, share owner; unicasts go back to the port. */
class MqttMember implements Subscriber {
  readonly quota: Readonly<Quota>;
  readonly authorized: boolean;
  readonly shareOwner: ShareOwner;
  readonly receiver: Receiver;

  constructor(
    public cid: string,
    readonly home: string,
    identity: MqttIdentity,
    address: string,
    port: IosigMqttPort,
  ) {
    this.quota = QUOTA_TABLE[identity.level] ?? QUOTA_TABLE[DEFAULT_LEVEL]!;
    this.authorized = identity.did !== '';
    this.shareOwner = shareOwnerOf(this.authorized, identity.level === ADMIN_LEVEL, identity.did, throttleKey(address));
    this.receiver = {
      deliver: (out) => (port.unicast(this.cid, out) ? out.msg.length : 0),
      hasRoom: () => true,
      topicSocket: () => null,
    };
  }

  report(what: string): void {
    this.log(`mqtt ${this.cid}: ${what}`);
  }

  log: (line: string) => void = () => {};
}

/** One message on its way to the tap, kept while the router routes the SIGNAL made of it. */
interface InFlight {
  message: MqttMessage;
}

export class IosigMqttPort implements MqttBrokerPort {
  readonly index = new TopicIndex<MqttSubscriber, SubscriptionOptions>({ ready: (s) => s.ready });
  /** Other nodes' MQTT filters: one remote-nodes share per filter. */
  private readonly remote = new TopicIndex<ChannelMembers, string>();
  readonly sessions: SessionStore;
  /** MQTT retained messages by routing topic (iosig's `$` channels keep theirs in the router). */
  readonly retainedMessages: RetainedStore;
  /** Subscribers per filter (the filter's interest on the bus while it has any). */
  private readonly filterCounts = new Map<string, number>();
  /** CIDs held by admitted MQTT connections (several connections may share a device's CID). */
  private readonly cidHolders = new Map<string, number>();
  /** Who each client is, by client identifier. */
  private readonly identities = new Map<string, MqttIdentity>();
  /** How to end each admitted client, by client identifier (a takeover by an iosignal login). */
  private readonly ends = new Map<string, Disconnectable>();
  /** The client address each admitted identity came from (its address unit owns what an anonymous client holds). */
  private readonly addresses = new WeakMap<MqttIdentity, string>();
  /** What the access rules need beyond the identity: its certificate, and an outside source's rights. */
  private readonly loginExtras = new WeakMap<MqttIdentity, LoginExtras>();
  /** The router's view of each client that published, by client identifier (forgotten when it disconnects). */
  private readonly members = new Map<string, MqttMember>();
  private readonly fanOut = new MatchFanOut();
  private inFlight: InFlight | null = null;
  /** Envelopes to other nodes' filters made by the last deliverLocal. */
  private nodesReached = 0;
  private readonly access: MqttAccessCheck;
  private readonly quota: PublishQuota;
  /** Figures for $SYS and the metrics. */
  messagesIn = 0;
  deliveries = 0;
  refused = 0;
  anonymousLogins = 0;

  constructor(
    private readonly broker: Broker,
    options: IosigPortOptions,
  ) {
    this.sessions = options.sessions ?? new MemorySessionStore();
    this.retainedMessages = new RetainedStore(options.maxRetained, options.maxRetainedBytes);
    this.access = options.accessCheck ?? this.brokerAccess;
    this.quota = new PublishQuota(broker);
    broker.router.tap = {
      publish: (key, out, local) => this.tapPublish(key, out, local),
      unicast: (cid, out) => this.unicast(cid, out),
      holds: (cid) => this.cidHolders.has(cid),
      takeOver: (cid) => this.takeOver(cid),
      attachMembers: (key, members) => this.attachMembers(key, members),
      detachMembers: (key, members) => this.detachMembers(key, members),
    } satisfies ChannelTap;
    this.stopWatchingRules = broker.access?.onChange(() => this.reads.rulesChanged(this.index.size)) ?? null;
  }

  /** Stops the rule-change listener (detach). */
  private stopWatchingRules: (() => void) | null;

  /** The router no longer calls this port (the MQTT listeners are closed). */
  detach(): void {
    this.stopWatchingRules?.();
    this.stopWatchingRules = null;
    if (this.broker.router.tap !== null) this.broker.router.tap = null;
  }

  // ---- admission -------------------------------------------------------------------------------------------

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const { broker } = this;
    const address = request.address;
    const home = homePrefix(address);
    const store = broker.keyStore;
    const outside = broker.outside;
    const certificate = request.certificateNames?.[0] ?? null;
    const presented = mqttPresented(request, { store: store !== null, jwt: outside?.jwt != null, hook: outside?.hook != null });
    if (presented === null) {
      if (broker.options.membersOnly) return this.refuse(address, 'members only: anonymous MQTT client', 'not-authorized');
      const cid = broker.router.freshAnonymousCid();
      this.anonymousLogins++;
      return this.admit({ cid, home, did: '', level: broker.policy.defaultQuotaLevel }, address, { certificate });
    }
    // The same throttle as every other login: per address and per device id (a token: per its digest).
    const throttled = presented.kind === 'bearer' ? presented.id : presented.kind === 'token' ? tokenThrottleId(presented.token) : null;
    const ticket = throttled !== null ? await broker.loginThrottle.begin(address, throttled) : null;
    if (typeof ticket === 'string') {
      broker.stats.authFail++;
      broker.stats.authFailByReason[ticket]++;
      return this.refuse(address, `login throttled (${ticket})`, 'busy');
    }
    // The outside sources first (a JWT, the auth hook), as for every other transport; `ignore` passes it on.
    const judged = outside?.decide({ ip: address, tls: request.tls, transport: 'mqtt', clientId: request.clientId, certificate }, presented);
    if (judged) {
      const verdict = await judged;
      if (verdict.kind === 'allow') {
        ticket?.end(true);
        const { identity } = verdict;
        // The session ends at the token's expiry (or the hook's expire_at), as on the other transports.
        const mqttIdentity = { cid: identity.cid, home, did: identity.did, level: identity.level };
        if (identity.did !== '' && !(await this.claim(identity.cid, request.clientId))) return this.refuse(address, `duplicate login for cid "${identity.cid}"`, 'not-authorized');
        broker.stats.authOk++;
        this.admit(mqttIdentity, address, { certificate, grants: identity.grants, superuser: identity.superuser });
        return identity.expiresAt === null ? { ok: true, identity: mqttIdentity } : { ok: true, identity: mqttIdentity, endsAt: identity.expiresAt };
      }
      if (verdict.kind === 'refuse') {
        ticket?.end(false);
        broker.stats.authFail++;
        broker.stats.authFailByReason[verdict.code]++;
        return this.refuse(address, verdict.reason, 'not-authorized');
      }
    }
    if (!store || presented.kind === 'token') {
      // No source admitted what it presented: anonymous, as on the other transports (a failure for the throttle).
      ticket?.end(false);
      if (broker.options.membersOnly) return this.refuse(address, 'members only: no source admitted the MQTT client', 'not-authorized');
      return this.admit({ cid: broker.router.freshAnonymousCid(), home, did: '', level: broker.policy.defaultQuotaLevel }, address, { certificate });
    }
    const verdict = await decideIdentity(store, presented);
    ticket?.end(verdict.ok);
    if (!verdict.ok) {
      broker.stats.authFail++;
      broker.stats.authFailByReason[verdict.code]++;
      const reason = verdict.code === 'store_error' ? 'unavailable' : 'bad-credentials';
      return this.refuse(address, verdict.reason, reason);
    }
    const { record, level } = verdict;
    if (!(await this.claim(record.cid, request.clientId))) return this.refuse(address, `duplicate login for cid "${record.cid}"`, 'not-authorized');
    broker.stats.authOk++;
    return this.admit({ cid: record.cid, home, did: record.id, level }, address, { certificate });
  }

  /** The duplicate-login rule against a local iosignal session holding `cid` (broker/cid-claims.ts). */
  private claim(cid: string, clientId: string): Promise<boolean> {
    return this.broker.claimCidOutside(cid, `MQTT client "${clientId}"`);
  }

  /** An iosignal login took `cid` over (--duplicate-login replace): its MQTT holders are told and closed. */
  private takeOver(cid: string): void {
    for (const [clientId, identity] of this.identities) {
      if (identity.cid === cid) this.ends.get(clientId)?.disconnect(RC.SESSION_TAKEN_OVER, 'session taken over');
    }
  }

  private refuse(address: string, why: string, reason: 'not-authorized' | 'bad-credentials' | 'unavailable' | 'busy'): AuthResult {
    this.refused++;
    this.broker.log(`mqtt: login from ${address} refused: ${why}`);
    return { ok: false, reason };
  }

  private admit(identity: MqttIdentity, address: string, extra: LoginExtras): AuthResult {
    this.addresses.set(identity, address);
    if (extra.certificate !== null || extra.grants || extra.superuser) this.loginExtras.set(identity, extra);
    return { ok: true, identity };
  }

  admitted(clientId: string, identity: MqttIdentity, conn?: Disconnectable): void {
    this.identities.set(clientId, identity);
    if (conn) this.ends.set(clientId, conn);
    const n = this.cidHolders.get(identity.cid) ?? 0;
    this.cidHolders.set(identity.cid, n + 1);
    if (n === 0) this.broker.router.announceCid(identity.cid, true);
  }

  closed(clientId: string, identity: MqttIdentity, reason: string): void {
    if (reason === LOGIN_EXPIRED) this.broker.stats.sessionsExpired++;
    this.quota.forget(clientId);
    const n = this.cidHolders.get(identity.cid) ?? 0;
    const member = this.members.get(clientId);
    if (this.identities.get(clientId) === identity) {
      this.identities.delete(clientId);
      this.ends.delete(clientId);
      this.members.delete(clientId);
    }
    if (n <= 1) {
      this.cidHolders.delete(identity.cid);
      if (n === 1) this.broker.router.announceCid(identity.cid, false);
      // The device is offline: the close notices an iosignal client's close publishes (§5.8), for subscribers
      // of `<cid>@state` and `<cid>@$state` — not when a newer connection of the same client took the session
      // over (the device is online), nor for an anonymous client under --members-only.
      const quiet = reason === 'session taken over' || (this.broker.options.membersOnly && identity.did === '');
      if (!quiet) this.closeNotices(member ?? this.memberFor(identity));
    } else this.cidHolders.set(identity.cid, n - 1);
    // Its CID-retained values go with its connection, as an iosignal client's do (Q25).
    if (member && member.cid === identity.cid) this.broker.router.forget(member);
  }

  private closeNotices(member: MqttMember): void {
    const { router } = this.broker;
    for (const tag of ['@state', '@$state']) {
      try {
        router.publish(member, encodeSignal(tag, PAYLOAD.TEXT, CLOSE_TEXT), tag);
      } catch (err) {
        this.broker.log(`mqtt: close notice of ${member.cid} failed: ${String(err)}`);
      }
    }
  }

  private memberFor(identity: MqttIdentity): MqttMember {
    const member = new MqttMember(identity.cid, identity.home, identity, this.addresses.get(identity) ?? '', this);
    member.log = (line) => this.broker.log(line);
    return member;
  }

  /** Who a subscriber is: its session's identity (also while a stored session is restored), or its client's. */
  private identityOf(subscriber: MqttSubscriber): MqttIdentity | undefined {
    const own = (subscriber as { identity?: MqttIdentity }).identity;
    return own ?? this.identities.get(subscriber.clientId);
  }

  /** accessIdentityOf's objects, one per identity. */
  private readonly accessIdentities = new WeakMap<MqttIdentity, AccessIdentity>();

  /** The session as the access rules see it (one object per identity: the engine caches its subject by it). */
  private accessIdentityOf(identity: MqttIdentity): AccessIdentity {
    let who = this.accessIdentities.get(identity);
    if (!who) {
      const extra = this.loginExtras.get(identity);
      who = {
        cid: identity.cid,
        did: identity.did,
        level: identity.level,
        address: this.addresses.get(identity) ?? '',
        certificate: extra?.certificate ?? null,
        grants: extra?.grants ?? null,
        superuser: extra?.superuser ?? false,
      };
      this.accessIdentities.set(identity, who);
    }
    return who;
  }

  /** No rules and no rights of its own: everything is allowed, with no check. */
  private unchecked(identity: MqttIdentity): boolean {
    return !this.broker.accessCheck.configured && !this.loginExtras.get(identity)?.grants;
  }

  /**
   * The broker's access rules (issue 18) for MQTT: a topic is checked as the channel it maps to; a wildcard filter
   * is allowed when the rules may let it deliver something (subscribeVerdict says what each delivery needs).
   */
  private readonly brokerAccess: MqttAccessCheck = (identity, action, channel) => {
    if (this.unchecked(identity)) return true;
    const check = this.broker.accessCheck;
    const who = this.accessIdentityOf(identity);
    if (!hasWildcard(channel)) return check(who, action, channel);
    return check.filter(who, channelFilter(channel)) !== 'none';
  };

  /**
   * What a subscription may deliver: 'all' (no check per delivery), 'some' (granted, each delivery checked by
   * `reads`) or 'none' (refused: it can match no channel the subscriber may read).
   */
  private subscribeVerdict(identity: MqttIdentity, routingFilter: string): FilterVerdict {
    const channel = this.channelOf(routingFilter);
    if (this.access !== this.brokerAccess || !hasWildcard(channel) || this.unchecked(identity)) {
      return this.access(identity, 'subscribe', channel) ? 'all' : 'none';
    }
    const verdict = this.broker.accessCheck.filter(this.accessIdentityOf(identity), channelFilter(channel));
    if (verdict === 'none') this.broker.access?.denials.record('subscribe', `mqtt cid ${identity.cid || '-'} did ${identity.did || '-'}`, channel);
    return verdict;
  }

  /** The read check of each delivery a partly readable filter (or a rule change) makes necessary. */
  private readonly reads = new MqttReadCheck((topic) => this.channelOf(topic), (subscriber, key) => {
    const identity = this.identityOf(subscriber);
    return identity === undefined || this.access(identity, 'subscribe', key);
  });

  /** The channel key a routing topic or filter names, for the access check and the logs. */
  private channelOf(routing: string): string {
    if (hasWildcard(routing)) return routing;
    const target = routingTopicToChannel(routing);
    return target.kind === 'channel' ? target.key : routing;
  }

  // ---- subscriptions ---------------------------------------------------------------------------------------

  subscribe(subscriber: MqttSubscriber, routingFilter: string, group: string | null, options: SubscriptionOptions): Verdict {
    const identity = this.identityOf(subscriber);
    const verdict = identity ? this.subscribeVerdict(identity, routingFilter) : 'all';
    if (verdict === 'none') return RC.NOT_AUTHORIZED;
    if (this.broker.options.membersOnly && identity?.did === '') return RC.NOT_AUTHORIZED;
    if (this.index.add(routingFilter, subscriber, options, group)) this.countFilter(routingFilter, 1);
    this.reads.granted(subscriber, routingFilter, verdict);
    return RC.SUCCESS;
  }

  unsubscribe(subscriber: MqttSubscriber, routingFilter: string, group: string | null): boolean {
    if (!this.index.remove(routingFilter, subscriber, group)) return false;
    this.reads.dropped(subscriber, routingFilter);
    if (this.index.size === 0) this.reads.noneLeft();
    this.countFilter(routingFilter, -1);
    return true;
  }

  private countFilter(filter: string, change: 1 | -1): void {
    const n = (this.filterCounts.get(filter) ?? 0) + change;
    if (n > 0) this.filterCounts.set(filter, n);
    else this.filterCounts.delete(filter);
    // `$SYS/` is this node's own: no other node publishes it.
    if (filter.startsWith(SYS_NS)) return;
    if ((change === 1 && n === 1) || (change === -1 && n === 0)) this.broker.router.holdInterest(filterInterestKey(filter), change === 1);
  }

  // ---- publishing from MQTT --------------------------------------------------------------------------------

  publish(message: MqttMessage, publisher: MqttPublisher): Verdict {
    const { identity } = publisher;
    const topic = message.topic;
    if (topic.startsWith(SYS_NS)) return RC.TOPIC_NAME_INVALID;
    const target = routingTopicToChannel(topic);
    const channel = target.kind === 'channel' ? target.key : topic;
    if (!this.access(identity, 'publish', channel)) return RC.NOT_AUTHORIZED;
    if (this.broker.options.membersOnly && identity.did === '') return RC.NOT_AUTHORIZED;
    const over = this.quota.verdict(publisher.clientId, identity, message.payload.length);
    if (over !== RC.SUCCESS) return over;
    this.messagesIn++;
    if (message.retain && !channel.includes('$')) this.retain(message, true);
    const { router } = this.broker;
    // Nobody outside MQTT wants this channel (no iosignal, plain or serial subscriber here, no other node's
    // interest in the key, nothing to retain in the router, nobody watching signals): MQTT subscribers only, without
    // making a SIGNAL of it. Same result as the way through the router, which would find no channel.
    if (target.kind === 'channel' && !channel.includes('$') && !router.channels.has(channel) && this.broker.events.listenerCount('signal') === 0) {
      const n = this.deliverLocal(message, true);
      if (n === 0 && this.nodesReached === 0) return RC.NO_MATCHING_SUBSCRIBERS;
      this.broker.stats.publishes++;
      return RC.SUCCESS;
    }
    const member = this.memberOf(publisher);
    let tag: string | null = null;
    if (target.kind === 'channel') tag = target.key.startsWith('CID:') ? `@${target.tag.slice(target.tag.indexOf('@') + 1)}` : target.tag;
    else if (target.kind === 'unicast') tag = `${target.cid}@${target.topic}`;
    const signal = tag !== null ? this.signalOf(tag, message) : null;
    if (signal === null) {
      // No iosig form (a topic over 255 bytes, `$iosig/…` forms iosig cannot name): MQTT subscribers only.
      const n = this.deliverLocal(message, true);
      return n > 0 || this.nodesReached > 0 ? RC.SUCCESS : RC.NO_MATCHING_SUBSCRIBERS;
    }
    if (this.broker.events.listenerCount('signal') > 0) this.tapSignal(member.cid, tag!, signal);
    const outer = this.inFlight;
    this.inFlight = { message };
    try {
      const result = router.publish(member, signal, tag!);
      if (result.ok) return RC.SUCCESS;
      if (result.reason === 'no-subscriber' || result.reason === 'offline') return RC.NO_MATCHING_SUBSCRIBERS;
      return RC.TOPIC_NAME_INVALID;
    } finally {
      this.inFlight = outer;
    }
  }

  private signalOf(tag: string, message: MqttMessage): Buffer | null {
    if (Buffer.byteLength(tag) > 255) return null;
    const { payloadType, payload } = mqttToSignal(message);
    return encodeSignal(tag, payloadType, payload);
  }

  private tapSignal(from: string, tag: string, msg: Buffer): void {
    const at = 2 + msg[1]!;
    this.broker.events.emit('signal', { time: Date.now(), from, tag, payloadType: msg[at]!, size: msg.length, payload: Buffer.from(msg.subarray(at + 1, at + 1 + 256)) });
  }

  private memberOf(publisher: MqttPublisher): MqttMember {
    const { identity, clientId } = publisher;
    let member = this.members.get(clientId);
    if (!member || member.cid !== identity.cid || member.home !== identity.home) {
      member = this.memberFor(identity);
      this.members.set(clientId, member);
    }
    return member;
  }

  /** Where MQTT retained messages are kept beyond the process (the broker's durable store), or null. */
  retainKeeper: ((topic: string, message: MqttMessage | null) => void) | null = null;

  /** `durable`: a client's retained message (the store keeps it), not a `$SYS/` figure. */
  private retain(message: MqttMessage, durable = false): void {
    const kept = this.retainedMessages.keep(message);
    if (!kept) this.broker.stats.refusedRetained++;
    // A refused update has cleared the topic's old message too (retained-store.ts).
    if (durable) this.retainKeeper?.(message.topic, kept && message.payload.length > 0 ? this.retainedMessages.get(message.topic)! : null);
  }

  /** A retained message read back from the store at start-up; false when today's bounds refuse it. */
  restoreRetained(message: MqttMessage): boolean {
    return this.retainedMessages.keep(message);
  }

  /** A `$SYS/` figure of this node: kept as a retained message and sent to its subscribers here. */
  publishSys(message: MqttMessage): void {
    this.retain(message);
    this.deliverMatching(message);
  }

  // ---- the router's tap ------------------------------------------------------------------------------------

  /** A channel publish, as the router tells it (ChannelTap.publish). */
  private tapPublish(key: string, out: Outbound, local: boolean): number {
    if (!local) {
      const filter = interestKeyFilter(key);
      if (filter === null) return 0; // channel keys from other nodes: MQTT subscribers get their own envelopes
      const message = decodeCarried(out.msg);
      return message && topicMatches(filter, message.topic) ? this.deliverFilter(filter, message) : 0;
    }
    const carried = this.inFlight?.message;
    this.inFlight = null; // one publish, one tap call
    // No MQTT subscriber here and no other node's MQTT filter: every publish of an iosignal client passes through,
    // and building its MQTT form would be wasted.
    if (this.index.size === 0 && this.remote.size === 0) return 0;
    let message: MqttMessage | null;
    if (carried) {
      message = carried;
    } else {
      const topic = channelKeyToRoutingTopic(key);
      message = topic === null ? null : messageOfSignal(topic, out.msg);
    }
    return message ? this.deliverLocal(message, true, out) : 0;
  }

  unicast(cid: string, out: Outbound): boolean {
    if (!this.cidHolders.has(cid)) return false;
    const tag = signalTag(out.msg);
    const topic = unicastRoutingTopic(cid, tag.startsWith('@') ? tag.slice(1) : tag);
    if (topic === null) return true;
    const carried = this.inFlight?.message;
    this.inFlight = null;
    const message = carried ? { ...carried, topic, encodings: undefined } : messageOfSignal(topic, out.msg);
    if (message) this.deliverLocal(message, false);
    return true;
  }

  private attachMembers(key: string, members: ChannelMembers): boolean {
    const filter = interestKeyFilter(key);
    if (filter === null) return false;
    this.remote.add(filter, members, key);
    return true;
  }

  private detachMembers(key: string, members: ChannelMembers): boolean {
    const filter = interestKeyFilter(key);
    if (filter === null) return false;
    this.remote.remove(filter, members);
    return true;
  }

  /**
   * Delivers `message` to every local MQTT subscription matching its topic (one delivery per subscriber with all
   * its matches; shared groups one member each) and, when `toNodes`, one envelope per matching filter of other
   * nodes. Returns the local deliveries.
   */
  deliverLocal(message: MqttMessage, toNodes: boolean, out?: Outbound): number {
    const n = this.deliverMatching(message);
    this.nodesReached = 0;
    if (toNodes && this.remote.size > 0) {
      let bytes: Buffer | null = null;
      this.remote.match(message.topic, (members) => {
        this.nodesReached++;
        bytes ??= encodeCarried(message);
        members.publish(new Outbound(bytes, out?.publisher ?? '', out?.owner ?? ''), Infinity);
      });
    }
    return n;
  }

  private deliverMatching(message: MqttMessage): number {
    return this.fanOut.run(this.index, message, (subscriber, m, matches) => this.safely(subscriber, m, matches));
  }

  /** A message another node addressed to `filter` here: the subscriptions of exactly that filter. */
  private deliverFilter(filter: string, message: MqttMessage): number {
    let n = 0;
    this.index.visitFilter(filter, (subscriber, data) => {
      this.safely(subscriber, message, [data]);
      n++;
    });
    return n;
  }

  private safely(subscriber: MqttSubscriber, message: MqttMessage, matches: readonly SubscriptionOptions[]): void {
    if (!this.reads.mayReceive(subscriber, message.topic)) return;
    try {
      subscriber.deliver(message, matches);
      this.deliveries++;
    } catch (err) {
      this.broker.log(`mqtt: delivery to ${JSON.stringify(subscriber.clientId)} failed: ${String(err)}`);
    }
  }

  // ---- retained messages -----------------------------------------------------------------------------------

  retained(routingFilter: string, each: (message: MqttMessage) => void, subscriber?: MqttSubscriber): void {
    // Retained replay is a delivery too: a channel the subscriber may not read is not replayed.
    const visit = subscriber === undefined ? each : (m: MqttMessage): void => void (this.reads.mayReceive(subscriber, m.topic) && each(m));
    const retainedOf = (topic: string, msg: Uint8Array): void => {
      const m = messageOfSignal(topic, msg);
      if (m) visit({ ...m, retain: true });
    };
    const { router } = this.broker;
    if (!hasWildcard(routingFilter)) {
      this.retainedMessages.matching(routingFilter, visit);
      const target = routingTopicToChannel(routingFilter);
      if (target.kind !== 'channel' || !target.key.includes('$')) return;
      const at = target.key.indexOf('@');
      const kept = at < 0 ? router.retained.get(target.key) : router.cidRetained(target.key.slice(4, at), target.key.slice(at + 1));
      if (kept) retainedOf(routingFilter, kept);
      return;
    }
    this.retainedMessages.matching(routingFilter, visit);
    // iosig's channel-retained values (bounded by --retain-limit-counter entries).
    for (const [key, msg] of router.retained) {
      const topic = channelKeyToRoutingTopic(key);
      if (topic !== null && topicMatches(routingFilter, topic)) retainedOf(topic, msg);
    }
  }

  // ---- figures ---------------------------------------------------------------------------------------------

  get retainedCount(): number {
    return this.retainedMessages.size;
  }

  get subscriptionCount(): number {
    return this.index.size;
  }
}
