// MQTT persistent sessions read back at start-up (docs/durability.md §8): the store's records and `q:` logs,
// joined into whole sessions for the MQTT hub, which takes them in before anything listens (so their
// subscriptions are in force and they queue while their clients are still away). Records and logs are checked as
// they are read, inside the store's load: a damaged one stops the start with the file and the way out.
import { deliveriesOf, DurableSessions, joinSession, recordOf } from '../mqtt/durable-sessions.js';
import type { StoredDelivery, StoredSession, StoredSessionRecord } from '../mqtt/port.js';
import { SESSION_LOG_PREFIX, type DurableStore, type LogEntry, type LogMeta, type SessionData } from '../store/types.js';

export class StoredSessions {
  private readonly records = new Map<string, StoredSessionRecord>();
  private readonly logs = new Map<string, StoredDelivery[]>();
  /** The next journal offset per session (offsets only grow, also across restarts). */
  private readonly next = new Map<string, number>();

  /** The store's load visitor for session records. */
  session(clientId: string, data: SessionData): void {
    this.records.set(clientId, recordOf(data, clientId));
  }

  /**
   * The store's load visitor for logs: true when `name` was a session log (taken). A meta is there when the store
   * once deferred the log's writes (its `top`: the last offset handed out).
   */
  log(name: string, meta: LogMeta | undefined, entries: readonly LogEntry[]): boolean {
    if (!name.startsWith(SESSION_LOG_PREFIX)) return false;
    const clientId = name.slice(SESSION_LOG_PREFIX.length);
    this.logs.set(clientId, deliveriesOf(clientId, entries));
    this.next.set(clientId, Math.max(entries[entries.length - 1]?.offset ?? 0, meta?.top ?? 0) + 1);
    return true;
  }

  /**
   * The sessions, and the journal that continues them. A log without its record (not one this version writes: a
   * session's record and log leave in one batch) is dropped.
   */
  take(store: DurableStore): { journal: DurableSessions; sessions: StoredSession[] } {
    const journal = new DurableSessions(store);
    const sessions: StoredSession[] = [];
    for (const [clientId, record] of this.records) {
      sessions.push(joinSession(record, this.logs.get(clientId) ?? []));
      journal.continued(clientId, this.next.get(clientId) ?? 1);
    }
    for (const clientId of this.logs.keys()) if (!this.records.has(clientId)) store.dropLog(SESSION_LOG_PREFIX + clientId);
    this.records.clear();
    this.logs.clear();
    this.next.clear();
    return { journal, sessions };
  }
}
