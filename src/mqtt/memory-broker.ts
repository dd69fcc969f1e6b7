// A complete broker behind the MQTT port, in memory: the subscription index, retained messages, a session store
// and a small user table. The engine's own tests run on it; it is also the reference that iosig-port.ts follows on
// iosig's Broker.
import { timingSafeEqual } from 'node:crypto';
import { RC } from './codes.js';
import type {
  AuthRequest,
  AuthResult,
  MqttBrokerPort,
  MqttIdentity,
  MqttMessage,
  MqttPublisher,
  MqttSubscriber,
  SessionStore,
  StoredSession,
  SubscriptionOptions,
  Verdict,
} from './port.js';
import { TopicIndex } from './topic-index.js';
import { hasWildcard, topicMatches } from './topic.js';

export interface MemoryUser {
  password: string;
  cid: string;
  level?: number;
}

export interface MemoryBrokerOptions {
  /** Users that may log in; with none, every client is admitted anonymously. */
  users?: Record<string, MemoryUser>;
  /** Admit clients without a user name when users are configured (default true). */
  allowAnonymous?: boolean;
  /** Retained messages kept at most (default 10 000) and their payload bytes (default 64 MiB). */
  maxRetained?: number;
  maxRetainedBytes?: number;
  /** Home-channel prefix for an address (default: `PRIVATE:` for every address). */
  home?: (address: string) => string;
}

export class MemorySessionStore implements SessionStore {
  readonly saved = new Map<string, StoredSession>();
  get(clientId: string): StoredSession | undefined {
    return this.saved.get(clientId);
  }
  put(session: StoredSession): void {
    this.saved.set(session.clientId, session);
  }
  delete(clientId: string): void {
    this.saved.delete(clientId);
  }
}

export class MemoryMqttBroker implements MqttBrokerPort {
  readonly index = new TopicIndex<MqttSubscriber, SubscriptionOptions>({ ready: (s) => s.ready });
  readonly retainedMessages = new Map<string, MqttMessage>();
  readonly sessions = new MemorySessionStore();
  private retainedBytes = 0;
  private anonymous = 0;
  /** Per publish: which subscribers matched, so overlapping subscriptions give one delivery with every match. */
  private seq = 0;
  private readonly seen = new Map<MqttSubscriber, { seq: number; matches: SubscriptionOptions[] }>();
  readonly admittedClients = new Set<string>();

  constructor(private readonly options: MemoryBrokerOptions = {}) {}

  authenticate(request: AuthRequest): AuthResult {
    const home = this.options.home?.(request.address) ?? 'PRIVATE:';
    const users = this.options.users;
    if (users && request.username !== undefined) {
      const user = Object.hasOwn(users, request.username) ? users[request.username] : undefined;
      const given = request.password ?? Buffer.alloc(0);
      const wanted = Buffer.from(user?.password ?? '');
      if (!user || given.length !== wanted.length || !timingSafeEqual(given, wanted)) return { ok: false, reason: 'bad-credentials' };
      return { ok: true, identity: { cid: user.cid, home, did: request.username, level: user.level ?? 3 } };
    }
    if (users && this.options.allowAnonymous === false) return { ok: false, reason: 'not-authorized' };
    const identity: MqttIdentity = { cid: `?m${(++this.anonymous).toString(36)}`, home, did: '', level: 3 };
    return { ok: true, identity };
  }

  subscribe(subscriber: MqttSubscriber, routingFilter: string, group: string | null, options: SubscriptionOptions): Verdict {
    this.index.add(routingFilter, subscriber, options, group);
    return RC.SUCCESS;
  }

  unsubscribe(subscriber: MqttSubscriber, routingFilter: string, group: string | null): boolean {
    return this.index.remove(routingFilter, subscriber, group);
  }

  publish(message: MqttMessage, _publisher: MqttPublisher): Verdict {
    if (message.topic.startsWith('$SYS/')) return RC.TOPIC_NAME_INVALID;
    if (message.retain) this.retain(message);
    const seq = ++this.seq;
    const plain: MqttSubscriber[] = [];
    const shared: Array<[MqttSubscriber, SubscriptionOptions]> = [];
    this.index.match(message.topic, (subscriber, data, group) => {
      if (group) {
        shared.push([subscriber, data]);
        return;
      }
      let entry = this.seen.get(subscriber);
      if (!entry) this.seen.set(subscriber, (entry = { seq: 0, matches: [] }));
      if (entry.seq !== seq) {
        entry.seq = seq;
        entry.matches = [data];
        plain.push(subscriber);
      } else entry.matches.push(data);
    });
    for (const subscriber of plain) this.safely(subscriber, message, this.seen.get(subscriber)!.matches);
    for (const [subscriber, data] of shared) this.safely(subscriber, message, [data]);
    if (this.seen.size > 4 * (plain.length + 1024)) this.seen.clear();
    return plain.length + shared.length > 0 ? RC.SUCCESS : RC.NO_MATCHING_SUBSCRIBERS;
  }

  private safely(subscriber: MqttSubscriber, message: MqttMessage, matches: readonly SubscriptionOptions[]): void {
    try {
      subscriber.deliver(message, matches);
    } catch {
      // deliver never throws; a broker still does not let one receiver stop the others.
    }
  }

  private retain(message: MqttMessage): void {
    const old = this.retainedMessages.get(message.topic);
    if (old) {
      this.retainedBytes -= old.payload.length;
      this.retainedMessages.delete(message.topic);
    }
    if (message.payload.length === 0) return; // an empty retained message clears [MQTT-3.3.1-6]
    const maxCount = this.options.maxRetained ?? 10_000;
    const maxBytes = this.options.maxRetainedBytes ?? 64 * 1024 * 1024;
    if (this.retainedMessages.size >= maxCount || this.retainedBytes + message.payload.length > maxBytes) return;
    const { encodings: _e, origin: _o, ...kept } = message;
    this.retainedMessages.set(message.topic, { ...kept, origin: null });
    this.retainedBytes += message.payload.length;
  }

  retained(routingFilter: string, visit: (message: MqttMessage) => void): void {
    if (!hasWildcard(routingFilter)) {
      const one = this.retainedMessages.get(routingFilter);
      if (one) visit(one);
      return;
    }
    for (const [topic, message] of this.retainedMessages) if (topicMatches(routingFilter, topic)) visit(message);
  }

  admitted(clientId: string): void {
    this.admittedClients.add(clientId);
  }

  closed(clientId: string): void {
    this.admittedClients.delete(clientId);
  }
}
