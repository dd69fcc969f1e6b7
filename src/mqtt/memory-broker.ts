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
import { MatchFanOut } from './fan-out.js';
import { RetainedStore } from './retained-store.js';
import { TopicIndex } from './topic-index.js';

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
  readonly retainedMessages: RetainedStore;
  readonly sessions = new MemorySessionStore();
  private anonymous = 0;
  private readonly fanOut = new MatchFanOut();
  readonly admittedClients = new Set<string>();

  constructor(private readonly options: MemoryBrokerOptions = {}) {
    this.retainedMessages = new RetainedStore(options.maxRetained ?? 10_000, options.maxRetainedBytes ?? 64 * 1024 * 1024);
  }

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
    if (message.retain) this.retainedMessages.keep(message);
    const n = this.fanOut.run(this.index, message, (subscriber, m, matches) => this.safely(subscriber, m, matches));
    return n > 0 ? RC.SUCCESS : RC.NO_MATCHING_SUBSCRIBERS;
  }

  private safely(subscriber: MqttSubscriber, message: MqttMessage, matches: readonly SubscriptionOptions[]): void {
    try {
      subscriber.deliver(message, matches);
    } catch {
      // deliver never throws; a broker still does not let one receiver stop the others.
    }
  }

  retained(routingFilter: string, visit: (message: MqttMessage) => void): void {
    this.retainedMessages.matching(routingFilter, visit);
  }

  admitted(clientId: string): void {
    this.admittedClients.add(clientId);
  }

  closed(clientId: string): void {
    this.admittedClients.delete(clientId);
  }
}
