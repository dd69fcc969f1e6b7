// The bus in one process (BusLinks, links.ts): a MemoryHub joins several brokers' buses without Redis — tests and
// benches run the cluster's rules on it, and the primary of `io-server --workers` runs one for its workers
// (workers/bus-relay.ts). Like a socket, a message is delivered later (never inside the publisher's call), in
// publish order per receiver, and a receiver is just something that takes (channel, payload).
import { EventEmitter } from 'node:events';
import type { BusLinks, ClusterStore, OutgoingMessage } from './links.js';

/** Something that takes the hub's messages for the channels it subscribed to: a memory link, a worker's pipe. */
export interface HubSubscriber {
  deliver(channel: string, payload: Buffer): void;
}

interface Entry {
  value: string | Buffer;
  /** Date.now() after which the entry is gone (Infinity: never). */
  expires: number;
}

/**
 * The cluster's shared state kept in memory, with the semantics of ClusterStore (links.ts), synchronously: the
 * primary of --workers answers its workers' store asks from one of these at once. Expiry is checked on access.
 */
export class MemoryState {
  private readonly entries = new Map<string, Entry>();
  private readonly sets = new Map<string, Set<string>>();

  constructor(private readonly now: () => number = Date.now) {}

  private read(key: string): string | Buffer | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expires <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry.value;
  }

  private text(key: string): string | null {
    const value = this.read(key);
    return value === null ? null : value.toString();
  }

  private write(key: string, value: string | Buffer, ttlMs = Infinity): void {
    this.entries.set(key, { value, expires: this.now() + ttlMs });
  }

  lease(key: string, value: string, ttlMs: number): string | null {
    const previous = this.text(key);
    this.write(key, value, ttlMs);
    return previous;
  }

  take(key: string, value: string, ttlMs: number): boolean {
    if (this.read(key) !== null) return false;
    this.write(key, value, ttlMs);
    return true;
  }

  renew(key: string, owner: string, ttlMs: number): boolean {
    const holder = this.text(key);
    if (holder !== null && holder !== owner) return false;
    this.write(key, owner, ttlMs);
    return true;
  }

  claim(key: string, owner: string): string {
    const holder = this.text(key);
    if (holder !== null && holder !== owner) return holder;
    this.write(key, owner);
    return '';
  }

  swap(key: string, from: string, to: string): boolean {
    if (this.text(key) !== from) return false;
    this.write(key, to);
    return true;
  }

  release(key: string, owner: string): void {
    if (this.text(key) === owner) this.entries.delete(key);
  }

  get(key: string): string | null {
    return this.text(key);
  }

  getBuffer(key: string): Buffer | null {
    const value = this.read(key);
    return value === null ? null : Buffer.from(value);
  }

  set(key: string, value: Buffer | string): void {
    this.write(key, typeof value === 'string' ? value : Buffer.from(value));
  }

  exists(key: string): boolean {
    return this.read(key) !== null || this.sets.has(key);
  }

  del(key: string): void {
    this.entries.delete(key);
    this.sets.delete(key);
  }

  addMembers(set: string, members: string[]): void {
    let found = this.sets.get(set);
    if (!found) this.sets.set(set, (found = new Set()));
    for (const member of members) found.add(member);
  }

  removeMember(set: string, member: string): void {
    const found = this.sets.get(set);
    if (found?.delete(member) && found.size === 0) this.sets.delete(set);
  }

  members(set: string): string[] {
    return [...(this.sets.get(set) ?? [])];
  }
}

/** The operations of ClusterStore, by name: what a worker may ask its primary's MemoryState (workers/bus-relay.ts). */
export const STORE_OPS = ['lease', 'take', 'renew', 'claim', 'swap', 'release', 'get', 'getBuffer', 'set', 'exists', 'del', 'addMembers', 'removeMember', 'members'] as const;
/** One of STORE_OPS. */
export type StoreOp = (typeof STORE_OPS)[number];

/** A ClusterStore whose every operation is `call(op, args)`: on a MemoryState here, or asked of another process. */
export function storeFrom(call: (op: StoreOp, args: unknown[]) => Promise<unknown>): ClusterStore {
  const store = {} as Record<StoreOp, (...args: unknown[]) => Promise<unknown>>;
  for (const op of STORE_OPS) store[op] = (...args: unknown[]) => call(op, args);
  return store as unknown as ClusterStore;
}

/** Runs one store operation on `state` (a bad argument rejects, as a store away would). */
export function runOn(state: MemoryState, op: StoreOp, args: unknown[]): unknown {
  return (state[op] as (...a: unknown[]) => unknown).apply(state, args);
}

/** A ClusterStore over a MemoryState in this process. */
export function memoryStore(state: MemoryState): ClusterStore {
  return storeFrom(async (op, args) => runOn(state, op, args));
}

/** Channels and their subscribers, and the shared state: one per cluster that lives in one process. */
export class MemoryHub {
  readonly state: MemoryState;
  private readonly channels = new Map<string, Set<HubSubscriber>>();
  private readonly bySubscriber = new Map<HubSubscriber, Set<string>>();

  constructor(now?: () => number) {
    this.state = new MemoryState(now);
  }

  subscribe(subscriber: HubSubscriber, channels: readonly string[]): void {
    let mine = this.bySubscriber.get(subscriber);
    if (!mine) this.bySubscriber.set(subscriber, (mine = new Set()));
    for (const channel of channels) {
      let subs = this.channels.get(channel);
      if (!subs) this.channels.set(channel, (subs = new Set()));
      subs.add(subscriber);
      mine.add(channel);
    }
  }

  unsubscribe(subscriber: HubSubscriber, channels: readonly string[]): void {
    const mine = this.bySubscriber.get(subscriber);
    for (const channel of channels) {
      mine?.delete(channel);
      const subs = this.channels.get(channel);
      if (subs?.delete(subscriber) && subs.size === 0) this.channels.delete(channel);
    }
  }

  /** A subscriber went away (a link closed, a worker died): every subscription goes. */
  drop(subscriber: HubSubscriber): void {
    const mine = this.bySubscriber.get(subscriber);
    if (!mine) return;
    this.bySubscriber.delete(subscriber);
    this.unsubscribe(subscriber, [...mine]);
  }

  /** Hands `payload` to every subscriber of `channel`; returns how many. */
  publish(channel: string, payload: Buffer): number {
    const subs = this.channels.get(channel);
    if (!subs) return 0;
    for (const sub of subs) sub.deliver(channel, payload);
    return subs.size;
  }

  /** A node's links to this hub. */
  links(): BusLinks {
    return new MemoryLinks(this);
  }
}

/**
 * Messages queued for a receiver and handed over together, in order: after the current job (`queueMicrotask`, a
 * node in this process: no turn of latency) or at the end of the turn (`setImmediate`, a worker's pipe: one IPC
 * message for everything a turn sends it).
 */
export class Inbox {
  private queue: OutgoingMessage[] = [];
  private scheduled = false;

  constructor(
    private readonly handle: (messages: OutgoingMessage[]) => void,
    private readonly schedule: (run: () => void) => void = queueMicrotask,
  ) {}

  push(channel: string, payload: Buffer): void {
    this.queue.push({ channel, payload });
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(this.flush);
  }

  clear(): void {
    this.queue = [];
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const messages = this.queue;
    this.queue = [];
    this.handle(messages);
  };
}

class MemoryLinks implements BusLinks, HubSubscriber {
  readonly label = 'the memory hub';
  readonly events = new EventEmitter();
  readonly ordersAcrossChannels = true;
  readonly sendsPerJob = true;
  readonly store: ClusterStore;
  private up = true;
  private handler: (channel: Buffer | string, payload: Buffer) => void = () => undefined;
  private readonly inbox = new Inbox((messages) => {
    for (const { channel, payload } of messages) if (this.up) this.handler(channel, payload);
  });

  constructor(private readonly hub: MemoryHub) {
    this.store = memoryStore(hub.state);
  }

  get isUp(): boolean {
    return this.up;
  }

  deliver(channel: string, payload: Buffer): void {
    this.inbox.push(channel, payload);
  }

  publishAll(messages: readonly OutgoingMessage[], done: (receivers: (number | null)[]) => void): void {
    const receivers = messages.map(({ channel, payload }) => (this.up ? this.hub.publish(channel, payload) : null));
    queueMicrotask(() => done(receivers));
  }

  async subscribe(channels: string[]): Promise<void> {
    if (!this.up) throw new Error('memory links closed');
    this.hub.subscribe(this, channels);
  }

  async unsubscribe(channels: string[]): Promise<void> {
    this.hub.unsubscribe(this, channels);
  }

  onMessage(handler: (channel: Buffer | string, payload: Buffer) => void): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    this.up = false;
    this.inbox.clear();
    this.hub.drop(this);
  }
}
