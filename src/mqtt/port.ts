// What the MQTT engine needs from a broker, and nothing more: one narrow port. The in-memory broker
// (memory-broker.ts) implements it for the engine's own tests; iosig-port.ts implements it on iosig's Broker with its
// router, key stores, retained store and session store. Topics on this port are routing topics (channel-map.ts):
// the engine has already rewritten `$iosig/home/…` and `$iosig/inbox/…` for the client it serves.
import type { TopicView } from './channel-map.js';
import type { UserProperty } from './inspect.js';

export type QoS = 0 | 1 | 2;

/** One application message, as it travels through the broker. Never mutated once published. */
export interface MqttMessage {
  /** Routing topic. */
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly payloadFormatIndicator?: boolean;
  readonly contentType?: string;
  /** Routing topic the requester listens on (request/response). */
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  readonly userProperties?: readonly UserProperty[];
  /** Absolute expiry, ms since the epoch (from the Message Expiry Interval); none = never. */
  readonly expiresAt?: number;
  /** The session that published it (no-local), or null for the broker itself and other kinds of client. */
  readonly origin: MqttSubscriber | null;
  /** Encodings already made for receivers (publish-encoder.ts); owned by the engine. */
  encodings?: Array<{ key: string; bytes: Buffer; packetIdOffset: number }>;
}

/** The subscription options of MQTT 5 (3.1.1 clients get the 3.1.1 behaviour: all false, handling 0). */
export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier, 0 = none. */
  subscriptionId: number;
  /** How the subscriber sees delivered routing topics (its filter was rewritten). */
  view: TopicView;
}

/** A session as the broker sees it: something to deliver to. */
export interface MqttSubscriber {
  readonly clientId: string;
  /**
   * A published message matched `matches` (one entry per matching subscription of this subscriber; shared
   * subscriptions are delivered separately, one match each). Never throws.
   */
  deliver(message: MqttMessage, matches: readonly SubscriptionOptions[]): void;
  /** Online, with room in its in-flight window: preferred when a shared group picks a member. */
  readonly ready: boolean;
}

/** Who is publishing: the broker applies its rules (rights, quotas, the publisher's CID on iosig deliveries). */
export interface MqttPublisher {
  clientId: string;
  identity: MqttIdentity;
  /** The publishing session (compared with MqttMessage.origin for no-local). */
  session: MqttSubscriber;
}

/** An admitted client's connection, as the broker may end it (DISCONNECT with `code` on MQTT 5, then close). */
export interface Disconnectable {
  disconnect(code: number, why: string): void;
}

/** What the broker says about a client it admitted. */
export interface MqttIdentity {
  /** iosig CID: stored for a logged-in device, anonymous otherwise. */
  cid: string;
  /** Home-channel prefix of the client's address (`PRIVATE:` or `IP:<hex>`). */
  home: string;
  /** Key-store device id, '' when anonymous. */
  did: string;
  /** Quota level. */
  level: number;
}

export interface AuthRequest {
  clientId: string;
  username?: string;
  password?: Buffer;
  /** Names from a verified client certificate (CN first, then subject alternative names), when there is one. */
  certificateNames?: readonly string[];
  address: string;
  tls: boolean;
  protocolVersion: 3 | 4 | 5;
}

export type AuthRefusal = 'bad-credentials' | 'not-authorized' | 'banned' | 'unavailable' | 'busy';

/** `endsAt`: when the login's proof (a token, an auth hook answer) runs out: the connection is ended then (ms since the epoch). */
export type AuthResult = { ok: true; identity: MqttIdentity; endsAt?: number } | { ok: false; reason: AuthRefusal };

/** The close reason of a connection whose login ran out (AuthResult.endsAt). */
export const LOGIN_EXPIRED = 'its token expired';

/** A subscription as a session stores it. */
export interface StoredSubscription {
  /** The filter as the client wrote it (with `$share/<group>/` when shared). */
  filter: string;
  options: SubscriptionOptions;
}

/** A message waiting for (or in flight to) a client, as a session stores it. */
export interface StoredDelivery {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: UserProperty[];
  expiresAt?: number;
  subscriptionIds: number[];
  view: TopicView;
  /** In flight: the packet identifier and how far the exchange went. */
  packetId?: number;
  state?: 'publish' | 'pubrel';
  /** Its place in the session's journal (SessionJournal), when it was read back from one. */
  offset?: number;
}

/** Everything a persistent session is (MQTT 5 §4.1), in plain data. */
export interface StoredSession {
  clientId: string;
  /** Seconds. */
  expiry: number;
  /** When the session lost its connection, ms since the epoch. */
  disconnectedAt: number;
  subscriptions: StoredSubscription[];
  inflight: StoredDelivery[];
  queue: StoredDelivery[];
  /** Inbound QoS 2 packet identifiers whose PUBREL has not come. */
  inboundQos2: number[];
  /** Who the client was when last connected (a session read back at start-up subscribes as it). */
  identity?: MqttIdentity;
  /** True when the record was written while a connection held the session (`disconnectedAt` is then stale). */
  online?: boolean;
}

/** A session record: the session without its deliveries. */
export type StoredSessionRecord = Omit<StoredSession, 'inflight' | 'queue'>;

/**
 * A session store that keeps sessions change by change, so that a crash loses at most the changes not yet
 * committed (durable-sessions.ts). The engine journals only sessions with an expiry.
 */
export interface SessionJournal {
  /** The record changed (subscriptions, expiry, identity, inbound QoS 2 ids, online/offline). */
  record(record: StoredSessionRecord): void;
  /** A delivery joined the session (queued, or put in flight at once); returns its offset in the journal. */
  queued(clientId: string, delivery: StoredDelivery): number;
  /** The delivery at `offset` changed (it went in flight, or on to PUBREL). */
  changed(clientId: string, offset: number, delivery: StoredDelivery): void;
  /** The delivery at `offset` is done (acknowledged, expired, dropped). */
  completed(clientId: string, offset: number): void;
  /** The whole session, journal written anew (a session that becomes persistent); returns the deliveries' offsets in order. */
  rewrite(session: StoredSession): number[];
  delete(clientId: string): void;
  /** Writes handed over so far (a publish compares it before and after to know whether it journaled anything). */
  readonly writes: number;
  /** Calls `fn` once every journal write handed over before the call is committed. */
  whenDurable(fn: () => void): void;
}

export interface SessionStore {
  get(clientId: string): StoredSession | undefined | Promise<StoredSession | undefined>;
  put(session: StoredSession): void | Promise<void>;
  delete(clientId: string): void | Promise<void>;
  /** Present when the store journals changes as they happen (then the engine calls it, and put only for whole sessions). */
  readonly journal?: SessionJournal;
}

/** A verdict on a subscribe or publish: 0 = granted, else an MQTT 5 reason code (0x87 not authorized, 0x97 quota…). */
export type Verdict = number;

export interface MqttBrokerPort {
  /** Admits a client or says why not; may take time (key stores, throttles). */
  authenticate(request: AuthRequest): AuthResult | Promise<AuthResult>;
  /** Adds or replaces a subscription; `group` is the shared-subscription group or null. */
  subscribe(subscriber: MqttSubscriber, routingFilter: string, group: string | null, options: SubscriptionOptions): Verdict;
  /** Removes one; true when it existed. */
  unsubscribe(subscriber: MqttSubscriber, routingFilter: string, group: string | null): boolean;
  /**
   * Publishes (retains when `message.retain`: an empty payload clears) and delivers it to every matching
   * subscriber. Returns 0 (success), 0x10 (no matching subscribers) or a refusal (0x87, 0x90, 0x97…).
   */
  publish(message: MqttMessage, publisher: MqttPublisher): Verdict;
  /** Calls `visit` for each retained message whose topic matches `routingFilter` (and `subscriber` may read). */
  retained(routingFilter: string, visit: (message: MqttMessage) => void, subscriber?: MqttSubscriber): void;
  /** Where persistent sessions are kept across restarts. */
  readonly sessions: SessionStore;
  /** A client was admitted (its CONNACK is going out) / its connection ended: registry, metrics, dashboard. */
  admitted?(clientId: string, identity: MqttIdentity, conn?: Disconnectable): void;
  closed?(clientId: string, identity: MqttIdentity, reason: string): void;
}
