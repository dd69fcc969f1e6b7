// MQTT persistent sessions in the durable store (docs/durability.md §8): the engine's SessionStore and
// SessionJournal ports on top of the same machinery as channel history. A session is a record (client id, expiry,
// when it went offline, subscriptions, inbound QoS 2 identifiers, the client's identity) and a log `q:<client id>` of
// its deliveries: in-flight ones (with their packet identifier and how far the exchange went) and queued ones, in
// the order they are owed. The record changes rarely (a subscription, a disconnect); the log takes one entry per
// message, so a session that queues while offline costs one small write per message instead of rewriting the
// whole session.
//
// Two ways in:
//   - `SessionStore` (get/put/delete): whole sessions (`get` for a hub that did not take every session in at
//     start-up; `put` writes one whole, as `rewrite`);
//   - the journal (`record`, `queued`, `changed`, `completed`, `delete`): one change at a time, as the engine makes
//     them (session.ts), so that an acknowledged QoS 1/2 message survives a crash; `whenDurable` holds the
//     publisher's acknowledgement until they are committed.
import { decodeData, encodeData } from '../store/codec.js';
import { SESSION_LOG_PREFIX, sessionLog, type DurableStore, type LogEntry, type LogMeta, type SessionData, type StoreSource } from '../store/types.js';
import type { MqttIdentity, SessionJournal, SessionStore, StoredDelivery, StoredSession, StoredSessionRecord, StoredSubscription } from './port.js';

type SessionRecord = StoredSessionRecord;

/** Entries of one session log read at once (a session holds at most maxQueuedMessages + maxInflightOut). */
const READ_ALL = 1_000_000;

export class DurableSessions implements SessionStore, SessionJournal {
  /** Next log offset per session seen by this process (the log's offsets only grow). */
  private readonly next = new Map<string, number>();
  writes = 0;

  constructor(
    private readonly store: DurableStore,
    private readonly now: () => number = Date.now,
  ) {}

  // ---- SessionStore --------------------------------------------------------------------------------------------

  async get(clientId: string): Promise<StoredSession | undefined> {
    const data = await this.store.getSession(clientId);
    if (!data) return undefined;
    const entries = await this.store.readLog(sessionLog(clientId), 0, READ_ALL);
    const session = storedSession(clientId, data, entries);
    this.next.set(clientId, Math.max(this.next.get(clientId) ?? 1, (entries[entries.length - 1]?.offset ?? 0) + 1));
    return session;
  }

  /** A whole snapshot: the record, and the log written anew (in flight first, then the queue, in order). */
  put(session: StoredSession): void {
    this.rewrite(session);
  }

  delete(clientId: string): void {
    this.writes++;
    this.store.deleteSession(clientId);
    this.next.delete(clientId);
  }

  /** Sessions read back at start-up (Durability.open): their next offsets, so the journal continues them. */
  continued(clientId: string, nextOffset: number): void {
    this.next.set(clientId, nextOffset);
  }

  // ---- the journal ---------------------------------------------------------------------------------------------

  get journal(): SessionJournal {
    return this;
  }

  /** The record and the log written anew; the log's offsets go on from where they were (they only grow). */
  rewrite(session: StoredSession): number[] {
    const { inflight, queue, ...record } = session;
    const log = sessionLog(session.clientId);
    this.record(record);
    this.store.dropLog(log);
    const offsets: number[] = [];
    for (const d of inflight) offsets.push(this.queued(session.clientId, d));
    for (const d of queue) offsets.push(this.queued(session.clientId, d));
    return offsets;
  }

  /** The record changed (subscriptions, expiry, went offline); deliveries are untouched. */
  record(record: SessionRecord): void {
    this.writes++;
    this.store.putSession(record.clientId, record as unknown as SessionData);
  }

  /** A delivery joined the session's log (queued, or sent at once with a packet identifier); returns its offset. */
  queued(clientId: string, delivery: StoredDelivery): number {
    const offset = this.next.get(clientId) ?? 1;
    this.next.set(clientId, offset + 1);
    this.writes++;
    this.store.putLogEntry(sessionLog(clientId), this.entry(offset, delivery));
    return offset;
  }

  /** A delivery of the log changed (it went in flight, PUBREC moved it to PUBREL). */
  changed(clientId: string, offset: number, delivery: StoredDelivery): void {
    this.writes++;
    this.store.putLogEntry(sessionLog(clientId), this.entry(offset, delivery));
  }

  /** A delivery is done (PUBACK, PUBCOMP, expired, dropped): it leaves the log. */
  completed(clientId: string, offset: number): void {
    this.writes++;
    this.store.removeLogEntry(sessionLog(clientId), offset);
  }

  whenDurable(fn: () => void): void {
    this.store.whenCommitted(fn);
  }

  /**
   * Where the store re-reads sessions whose writes it deferred (past its pending bound, write-behind.ts): the
   * engine's current state, by client id (`lookup`: null when the session is gone or not journaled). A session log's
   * meta says which offsets are owed: everything below `first` is done.
   */
  source(lookup: (clientId: string) => { record: StoredSessionRecord; deliveries: StoredDelivery[] } | null): Required<Pick<StoreSource, 'session' | 'log'>> {
    return {
      session: (clientId) => {
        const state = lookup(clientId);
        return state ? (state.record as unknown as SessionData) : undefined;
      },
      log: (name, from) => {
        if (!name.startsWith(SESSION_LOG_PREFIX)) return undefined;
        const clientId = name.slice(SESSION_LOG_PREFIX.length);
        const state = lookup(clientId);
        if (!state) return undefined;
        const owed = state.deliveries.filter((d) => d.offset !== undefined).sort((a, b) => a.offset! - b.offset!);
        const top = (this.next.get(clientId) ?? 1) - 1;
        const meta: LogMeta = { epoch: '', top, first: owed[0]?.offset ?? top + 1 };
        return { meta, entries: owed.filter((d) => d.offset! >= from).map((d) => this.entry(d.offset!, d)) };
      },
    };
  }

  private entry(offset: number, d: StoredDelivery): LogEntry {
    // The offset is the entry's key, not part of its data.
    const { offset: _o, ...data } = d;
    return { offset, time: this.now(), data: encodeData(data as unknown as SessionData) };
  }
}

/** A whole session from its record and its log's entries. Throws when either is damaged. */
export function storedSession(clientId: string, data: SessionData, entries: readonly LogEntry[]): StoredSession {
  return joinSession(recordOf(data, clientId), deliveriesOf(clientId, entries));
}

/** A session's record and its deliveries (in offset order) as one: in flight ones first, as they are owed. */
export function joinSession(record: StoredSessionRecord, deliveries: readonly StoredDelivery[]): StoredSession {
  const session: StoredSession = { ...record, inflight: [], queue: [] };
  for (const d of deliveries) {
    if (d.packetId !== undefined) session.inflight.push(d);
    else session.queue.push(d);
  }
  return session;
}

/** The deliveries of a session's log, each with its offset. Throws when one is damaged. */
export function deliveriesOf(clientId: string, entries: readonly LogEntry[]): StoredDelivery[] {
  return entries.map((entry) => {
    const d = deliveryOf(entry, clientId);
    d.offset = entry.offset;
    return d;
  });
}

/** A session record as stored. Throws when it is damaged. */
export function recordOf(data: SessionData, clientId: string): SessionRecord {
  const r = data as Partial<SessionRecord>;
  if (r.clientId !== clientId || typeof r.expiry !== 'number' || typeof r.disconnectedAt !== 'number' || !Array.isArray(r.subscriptions) || !Array.isArray(r.inboundQos2)) {
    throw new Error(`session ${JSON.stringify(clientId)}: the stored record lacks fields (store damaged or written by another program)`);
  }
  const record: SessionRecord = { clientId, expiry: r.expiry, disconnectedAt: r.disconnectedAt, subscriptions: r.subscriptions as StoredSubscription[], inboundQos2: r.inboundQos2 };
  if (isIdentity(r.identity)) record.identity = r.identity;
  if (r.online === true) record.online = true;
  return record;
}

function isIdentity(x: unknown): x is MqttIdentity {
  const i = x as Partial<MqttIdentity> | undefined;
  return typeof i === 'object' && i !== null && typeof i.cid === 'string' && typeof i.home === 'string' && typeof i.did === 'string' && typeof i.level === 'number';
}

function deliveryOf(entry: LogEntry, clientId: string): StoredDelivery {
  const d = decodeData(entry.data, 'session log', `${clientId}#${entry.offset}`) as unknown as StoredDelivery;
  if (typeof d.topic !== 'string' || !Buffer.isBuffer(d.payload) || (d.qos !== 0 && d.qos !== 1 && d.qos !== 2)) {
    throw new Error(`session ${JSON.stringify(clientId)}: delivery ${entry.offset} is damaged`);
  }
  return d;
}
