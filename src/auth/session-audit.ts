// Revocation (issue 9 item 8): a device removed from the key store, or given another key, cid or level, must not
// stay logged in. Each login records what it was admitted with; on a change notification from the store
// (SIGHUP reload, sudo addauth/delauth, io-server's own writes) every live session is checked again, and stores
// that change behind our back (Redis, written by io-auth or anyone) are polled: a bounded batch of logged-in
// ids per period. A session whose record is gone or different gets AUTH_CLEAR, then a close.
import type { ReloadResult } from './key-store.js';
import { resolveLevel, type DeviceRecord, type KeyStore } from './key-store.js';

/** What the audit needs of a logged-in connection. */
export interface AuditedSession {
  readonly ssid: number;
  readonly did: string;
  readonly closed: boolean;
  /** AUTH_CLEAR with `reason`, then a graceful close. */
  revoke(reason: string): void;
}

export interface AuditLimits {
  /** Period of the poll of live sessions against the store, in ms; 0 = only on change notifications. */
  pollMs: number;
  /** Most sessions checked per poll period (the next period goes on from there). */
  pollBatch: number;
}

export const DEFAULT_AUDIT_LIMITS: AuditLimits = { pollMs: 5000, pollBatch: 1000 };

/** Lookups in flight at once while checking. */
const CONCURRENT_LOOKUPS = 64;

interface Admitted {
  session: AuditedSession;
  key: string;
  cid: string;
  level: number;
}

/** Why `record` no longer admits the session, or null when it still does. */
function difference(admitted: Admitted, record: DeviceRecord | null): string | null {
  if (!record) return 'device removed from the key store';
  if (record.key !== admitted.key) return 'device key changed';
  if (record.cid !== admitted.cid) return 'device cid changed';
  if (resolveLevel(record.level) !== admitted.level) return 'device level changed';
  return null;
}

export class SessionAudit {
  /** Logged-in sessions by ssid (insertion order = ssid order). */
  private readonly sessions = new Map<number, Admitted>();
  private pollTimer: NodeJS.Timeout | null = null;
  private pollCursor = 0;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly store: () => KeyStore | null,
    private readonly limits: AuditLimits,
  ) {}

  /** Starts polling (stores that can change without telling us). */
  startPolling(): void {
    if (this.limits.pollMs <= 0 || this.pollTimer) return;
    this.pollTimer = setInterval(() => void this.poll(), this.limits.pollMs);
    this.pollTimer.unref();
  }

  admitted(session: AuditedSession, record: DeviceRecord, level: number): void {
    this.sessions.set(session.ssid, { session, key: record.key, cid: record.cid, level });
  }

  ended(ssid: number): void {
    this.sessions.delete(ssid);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The store changed: every session is checked again (runs once more if a change comes in meanwhile). */
  changed(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.check([...this.sessions.values()]);
      } while (this.again);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** One poll period: the next `pollBatch` sessions after the cursor, wrapping around. */
  private async poll(): Promise<void> {
    if (this.running) return;
    const batch: Admitted[] = [];
    for (const [ssid, admitted] of this.sessions) {
      if (ssid <= this.pollCursor) continue;
      batch.push(admitted);
      if (batch.length >= this.limits.pollBatch) break;
    }
    this.pollCursor = batch.length < this.limits.pollBatch ? 0 : batch[batch.length - 1]!.session.ssid;
    await this.check(batch);
  }

  private async check(batch: Admitted[]): Promise<void> {
    const store = this.store();
    if (!store) return;
    for (let i = 0; i < batch.length; i += CONCURRENT_LOOKUPS) {
      await Promise.all(batch.slice(i, i + CONCURRENT_LOOKUPS).map((admitted) => this.checkOne(store, admitted)));
    }
  }

  private async checkOne(store: KeyStore, admitted: Admitted): Promise<void> {
    const { session } = admitted;
    if (session.closed || this.sessions.get(session.ssid) !== admitted) return;
    let record: DeviceRecord | null;
    try {
      record = await store.lookup(session.did);
    } catch {
      return; // an unreachable store revokes nothing; the next poll asks again
    }
    const why = difference(admitted, record);
    if (why === null || session.closed || this.sessions.get(session.ssid) !== admitted) return;
    this.sessions.delete(session.ssid);
    session.revoke(why);
  }

  close(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.sessions.clear();
  }
}

/**
 * Makes a store report its own writes: add, remove and reload (file stores) call `changed` once they are done.
 * A reload that fails changes nothing, and is not reported.
 */
export function notifyChanges(store: KeyStore, changed: () => void): void {
  const add = store.add.bind(store);
  const remove = store.remove.bind(store);
  store.add = async (id, key, cid, level) => {
    await add(id, key, cid, level);
    changed();
  };
  store.remove = async (id) => {
    const removed = await remove(id);
    if (removed) changed();
    return removed;
  };
  if (hasReload(store)) {
    const reload = store.reload.bind(store);
    store.reload = async () => {
      const result = await reload();
      if (result.ok) changed();
      return result;
    };
  }
}


export function hasReload(store: KeyStore): store is KeyStore & { reload(): Promise<ReloadResult> } {
  return 'reload' in store && typeof store.reload === 'function';
}
