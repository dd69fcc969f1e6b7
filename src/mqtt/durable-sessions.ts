// MQTT persistent sessions in the durable store (docs/durability.md, "MQTT sessions"): the engine's SessionStore
// port on top of the same machinery as channel history. A session is a record (client id, expiry, when it went
// offline, subscriptions, inbound QoS 2 identifiers) and a log `q:<client id>` of its deliveries: in-flight ones
// (with their packet identifier and how far the exchange went) and queued ones, in the order they are owed. The
// record changes rarely (a subscription, a disconnect); the log takes one entry per message, so a session that
// queues while offline costs one small write per message instead of rewriting the whole session.
//
// Two ways in:
//   - `SessionStore` (get/put/delete): whole snapshots, as the hub stores them today when a session goes offline;
//   - the journal (`queued`, `changed`, `completed`): one delivery at a time, for the engine to call as messages
//     are queued, sent and acknowledged, so that an acknowledged QoS 1/2 message survives a crash while its session
//     is offline or busy (the wiring after issue 17: see docs/durability.md).
import { decodeData, encodeData } from '../store/codec.js';
import { sessionLog, type DurableStore, type LogEntry, type SessionData } from '../store/types.js';
import type { SessionStore, StoredDelivery, StoredSession, StoredSubscription } from './port.js';

/** The session record: a StoredSession without its deliveries. */
type SessionRecord = Omit<StoredSession, 'inflight' | 'queue'>;

/** Entries of one session log read at once (a session holds at most maxQueuedMessages + maxInflightOut). */
const READ_ALL = 1_000_000;

export class DurableSessions implements SessionStore {
  /** Next log offset per session seen by this process (the log's offsets only grow). */
  private readonly next = new Map<string, number>();

  constructor(
    private readonly store: DurableStore,
    private readonly now: () => number = Date.now,
  ) {}

  // ---- SessionStore --------------------------------------------------------------------------------------------

  async get(clientId: string): Promise<StoredSession | undefined> {
    const data = await this.store.getSession(clientId);
    if (!data) return undefined;
    const record = recordOf(data, clientId);
    const entries = await this.store.readLog(sessionLog(clientId), 0, READ_ALL);
    const session: StoredSession = { ...record, inflight: [], queue: [] };
    for (const entry of entries) {
      const d = deliveryOf(entry, clientId);
      if (d.packetId !== undefined) session.inflight.push(d);
      else session.queue.push(d);
    }
    this.next.set(clientId, (entries[entries.length - 1]?.offset ?? 0) + 1);
    return session;
  }

  /** A whole snapshot: the record, and the log written anew (in flight first, then the queue, in order). */
  put(session: StoredSession): void {
    const { inflight, queue, ...record } = session;
    const log = sessionLog(session.clientId);
    this.store.putSession(session.clientId, record as unknown as SessionData);
    this.store.dropLog(log);
    let offset = 0;
    for (const d of inflight) this.store.putLogEntry(log, this.entry(++offset, d));
    for (const d of queue) this.store.putLogEntry(log, this.entry(++offset, d));
    this.next.set(session.clientId, offset + 1);
  }

  delete(clientId: string): void {
    this.store.deleteSession(clientId);
    this.next.delete(clientId);
  }

  // ---- the journal ---------------------------------------------------------------------------------------------

  /** The record changed (subscriptions, expiry, went offline); deliveries are untouched. */
  record(record: SessionRecord): void {
    this.store.putSession(record.clientId, record as unknown as SessionData);
  }

  /** A delivery joined the session's log (queued, or sent at once with a packet identifier); returns its offset. */
  queued(clientId: string, delivery: StoredDelivery): number {
    const offset = this.next.get(clientId) ?? 1;
    this.next.set(clientId, offset + 1);
    this.store.putLogEntry(sessionLog(clientId), this.entry(offset, delivery));
    return offset;
  }

  /** A delivery of the log changed (it went in flight, PUBREC moved it to PUBREL). */
  changed(clientId: string, offset: number, delivery: StoredDelivery): void {
    this.store.putLogEntry(sessionLog(clientId), this.entry(offset, delivery));
  }

  /** A delivery is done (PUBACK, PUBCOMP, expired, dropped): it leaves the log. */
  completed(clientId: string, offset: number): void {
    this.store.removeLogEntry(sessionLog(clientId), offset);
  }

  private entry(offset: number, d: StoredDelivery): LogEntry {
    return { offset, time: this.now(), data: encodeData(d as unknown as SessionData) };
  }
}

function recordOf(data: SessionData, clientId: string): SessionRecord {
  const r = data as Partial<SessionRecord>;
  if (r.clientId !== clientId || typeof r.expiry !== 'number' || typeof r.disconnectedAt !== 'number' || !Array.isArray(r.subscriptions) || !Array.isArray(r.inboundQos2)) {
    throw new Error(`session ${JSON.stringify(clientId)}: the stored record lacks fields (store damaged or written by another program)`);
  }
  return { clientId, expiry: r.expiry, disconnectedAt: r.disconnectedAt, subscriptions: r.subscriptions as StoredSubscription[], inboundQos2: r.inboundQos2 };
}

function deliveryOf(entry: LogEntry, clientId: string): StoredDelivery {
  const d = decodeData(entry.data, 'session log', `${clientId}#${entry.offset}`) as unknown as StoredDelivery;
  if (typeof d.topic !== 'string' || !Buffer.isBuffer(d.payload) || (d.qos !== 0 && d.qos !== 1 && d.qos !== 2)) {
    throw new Error(`session ${JSON.stringify(clientId)}: delivery ${entry.offset} is damaged`);
  }
  return d;
}
