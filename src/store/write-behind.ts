// Writes are handed over synchronously and committed later, one transaction per event-loop turn, never awaited by
// the caller: a publish never waits for a disk or for Redis. At most one commit is in flight; what arrives
// meanwhile forms the next batch, so while the disk keeps up a batch is one turn, and when it falls behind one
// batch covers several turns (fewer, larger transactions: it catches up).
//
// The pending bound (`maxPendingBytes`, default 64 MiB): the bytes of values handed over and not yet committed. A
// value that would pass it is not queued; its key is remembered instead (a few dozen bytes) and, once the backlog is below
// half the bound, the current value is read again from its owner (StoreSource) and written. So a disk that falls
// behind costs memory for names, not for values, and the store ends up holding the owners' latest state — writes
// in between are skipped, which is what a coalescing store does anyway. What this costs: until the store has caught
// up, a crash loses the changes of every deferred key (docs/durability.md); the flush lag metric shows how long.
// Records without a value (deletes, trims, log metas) are not deferred: they are a few dozen bytes, one per key
// and turn at most, and may take the pending bytes a little past the bound.
// A failed commit (a full disk, Redis away) is retried with the writes made since merged into it, after a back-off
// of 100 ms doubling to 5 s, logged once per outage.
import { Batch, OP_OVERHEAD, retainedBytes } from './batch.js';
import { sessionLog, type LogEntry, type LogMeta, type RetainedValue, type SessionData, type StoreSource, type StoreWrites } from './types.js';
import { encodeData } from './codec.js';
import { ThrottledLog } from '../logging/throttled-log.js';

export const DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024;
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5000;

/** Applies one batch atomically (the store's engine). */
export interface BatchCommitter {
  commit(batch: Batch): Promise<void>;
  /** The batch is durable (called once per successful commit, before the next one starts). */
  committed?(batch: Batch): void;
}

export interface WriteBehindOptions {
  maxPendingBytes?: number;
  /**
   * A commit starts at least this long (ms) after the previous one started (default 0: at the end of the turn).
   * On a fast disk a commit's fixed cost dominates small batches; a couple of ms makes batches larger while a
   * crash still loses only the last few ms (docs/durability.md §4).
   */
  minCommitIntervalMs?: number;
  log?: (line: string) => void;
  /** ms clock (tests). */
  now?: () => number;
}

/** Keys whose current values are written once the store has room again. */
class Deferred {
  readonly retained = new Set<string>();
  /** cid → topics */
  readonly cidRetained = new Map<string, Set<string>>();
  readonly sessions = new Set<string>();
  /** Per log, the lowest offset not handed over. */
  readonly logs = new Map<string, number>();
  /** Keys held in all (kept up to date: the hot path reads it). */
  size = 0;
  since = 0;

  hasCid(cid: string, topic: string): boolean {
    return this.cidRetained.get(cid)?.has(topic) ?? false;
  }

  addCid(cid: string, topic: string): void {
    let topics = this.cidRetained.get(cid);
    if (!topics) this.cidRetained.set(cid, (topics = new Set()));
    if (!topics.has(topic)) {
      topics.add(topic);
      this.size++;
    }
  }

  clear(): void {
    this.retained.clear();
    this.cidRetained.clear();
    this.sessions.clear();
    this.logs.clear();
    this.size = 0;
  }
}

export interface WriteBehindCounters {
  writes: number;
  writeBytes: number;
  commits: number;
  commitErrors: number;
  droppedWrites: number;
  slowestCommitMs: number;
}

export class WriteBehind implements StoreWrites {
  private current = new Batch();
  private committing: Batch | null = null;
  /** Called once the writes handed over before them are committed (`whenCommitted`): `current`'s, then `committing`'s. */
  private currentWaiters: Array<() => void> = [];
  private committingWaiters: Array<() => void> = [];
  private inFlight: Promise<void> | null = null;
  private scheduled = false;
  private lastCommitAt = 0;
  private readonly minCommitIntervalMs: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = RETRY_FIRST_MS;
  private source: StoreSource = {};
  private readonly deferred = new Deferred();
  private closed = false;
  readonly maxPendingBytes: number;
  private readonly now: () => number;
  private readonly failureLog: ThrottledLog;
  private readonly droppedLog: ThrottledLog;
  private readonly log: (line: string) => void;
  readonly counters: WriteBehindCounters = { writes: 0, writeBytes: 0, commits: 0, commitErrors: 0, droppedWrites: 0, slowestCommitMs: 0 };

  constructor(
    private readonly committer: BatchCommitter,
    private readonly label: string,
    options: WriteBehindOptions = {},
  ) {
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    if (!(this.maxPendingBytes > 0)) throw new RangeError('the store pending-bytes bound must be positive');
    this.now = options.now ?? Date.now;
    this.minCommitIntervalMs = options.minCommitIntervalMs ?? 0;
    this.log = options.log ?? (() => {});
    this.failureLog = new ThrottledLog(this.log, 10_000);
    this.droppedLog = new ThrottledLog(this.log);
  }

  setSource(source: StoreSource): void {
    this.source = source;
  }

  get pendingBytes(): number {
    return this.current.bytes + (this.committing?.bytes ?? 0);
  }

  get pendingWrites(): number {
    return this.current.writes + (this.committing?.writes ?? 0);
  }

  get deferredKeys(): number {
    return this.deferred.size;
  }

  /** Age of the oldest write not yet committed, ms. */
  flushLagMs(): number {
    const starts = [this.current.startedAt, this.committing?.startedAt ?? 0, this.deferred.size > 0 ? this.deferred.since : 0].filter((t) => t > 0);
    return starts.length === 0 ? 0 : Math.max(0, this.now() - Math.min(...starts));
  }

  /**
   * Calls `fn` once every write handed over before this call is committed (deferred ones included): at once when
   * nothing is pending. An MQTT PUBACK waits here for the journal entries its publish made (docs/durability.md §8).
   * Never called when the store closes or is abandoned with those writes uncommitted (a crash loses them).
   */
  whenCommitted(fn: () => void): void {
    if (!this.current.empty || this.deferred.size > 0) this.currentWaiters.push(fn);
    else if (this.committing !== null) this.committingWaiters.push(fn);
    else fn();
  }

  // ---- StoreWrites -----------------------------------------------------------------------------------------------

  putRetained(key: string, value: RetainedValue): void {
    if (this.closed) return this.dropped();
    const deferred = this.deferred;
    if (deferred.size > 0 && deferred.retained.has(key)) return; // its current value is read when the store catches up
    if (this.current.bytes + this.committingBytes + retainedBytes(key, value) > this.maxPendingBytes) {
      if (!this.source.retained) return this.dropped();
      this.defer(() => deferred.retained.add(key), deferred.retained.has(key));
      return;
    }
    if (this.current.startedAt === 0) this.current.startedAt = this.now();
    this.current.setRetained(key, value, this.current.startedAt);
    this.schedule();
  }

  deleteRetained(key: string): void {
    if (this.closed) return this.dropped();
    if (this.deferred.retained.has(key)) return;
    this.current.setRetained(key, null, this.now());
    this.schedule();
  }

  putCidRetained(cid: string, topic: string, value: RetainedValue): void {
    if (this.closed) return this.dropped();
    const deferred = this.deferred;
    if (deferred.size > 0 && deferred.hasCid(cid, topic)) return;
    if (this.current.bytes + this.committingBytes + retainedBytes(cid + topic, value) > this.maxPendingBytes) {
      if (!this.source.cidRetained) return this.dropped();
      this.defer(() => deferred.addCid(cid, topic), true);
      return;
    }
    this.current.setCidRetained(cid, topic, value, this.now());
    this.schedule();
  }

  deleteCidRetained(cid: string, topic?: string): void {
    if (this.closed) return this.dropped();
    const deferred = this.deferred;
    if (topic !== undefined) {
      if (deferred.hasCid(cid, topic)) return;
      this.current.setCidRetained(cid, topic, null, this.now());
    } else {
      const topics = deferred.cidRetained.get(cid);
      if (topics) {
        deferred.size -= topics.size;
        deferred.cidRetained.delete(cid);
      }
      this.current.dropCid(cid, this.now());
    }
    this.schedule();
  }

  putSession(clientId: string, data: SessionData): void {
    if (this.closed) return this.dropped();
    const deferred = this.deferred;
    if (deferred.sessions.has(clientId)) return;
    const encoded = encodeData(data);
    if (this.current.bytes + this.committingBytes + OP_OVERHEAD + clientId.length + encoded.length > this.maxPendingBytes) {
      if (!this.source.session) return this.dropped();
      this.defer(() => deferred.sessions.add(clientId), deferred.sessions.has(clientId));
      return;
    }
    this.current.setSession(clientId, encoded, this.now());
    this.schedule();
  }

  deleteSession(clientId: string): void {
    if (this.closed) return this.dropped();
    if (!this.deferred.sessions.has(clientId)) this.current.setSession(clientId, null, this.now());
    this.schedule();
    this.dropLog(sessionLog(clientId));
  }

  putLogEntry(log: string, entry: LogEntry): void {
    if (this.closed) return this.dropped();
    const held = this.deferred.logs.get(log);
    if (held !== undefined) {
      if (entry.offset < held) this.deferred.logs.set(log, entry.offset);
      return;
    }
    if (this.pendingBytes + OP_OVERHEAD + entry.data.length > this.maxPendingBytes) {
      if (!this.source.log) return this.dropped();
      this.defer(() => this.deferred.logs.set(log, entry.offset), false);
      // Its meta waits with it (see putLogMeta); a meta already queued in this batch goes out as it is, consistent
      // with the entries queued before it.
      return;
    }
    this.current.putLogEntry(log, entry, this.now());
    this.schedule();
  }

  removeLogEntry(log: string, offset: number): void {
    if (!this.accepting()) return;
    this.current.removeLogEntry(log, offset, this.now());
    this.schedule();
  }

  trimLog(log: string, first: number): void {
    if (!this.accepting()) return;
    this.current.trimLog(log, first, this.now());
    this.schedule();
  }

  putLogMeta(log: string, meta: LogMeta): void {
    if (!this.accepting()) return;
    // A deferred log's meta is written with its entries, so a crash never leaves a meta ahead of them.
    if (this.deferred.logs.has(log)) return;
    this.current.putLogMeta(log, meta, this.now());
    this.schedule();
  }

  dropLog(log: string): void {
    if (!this.accepting()) return;
    if (this.deferred.logs.delete(log)) this.deferred.size--;
    this.current.dropLog(log, this.now());
    this.schedule();
  }

  // ---- queueing --------------------------------------------------------------------------------------------------

  private accepting(): boolean {
    if (!this.closed) return true;
    this.dropped();
    return false;
  }

  private get committingBytes(): number {
    return this.committing === null ? 0 : this.committing.bytes;
  }

  /** Remembers a key instead of its value (`known`: it was remembered already). */
  private defer(add: () => void, known: boolean): void {
    if (this.deferred.size === 0) this.deferred.since = this.now();
    add();
    if (!known) this.deferred.size++;
  }

  private dropped(): void {
    this.counters.droppedWrites++;
    this.droppedLog.write(`store ${this.label}: writes dropped (${this.counters.droppedWrites} so far): ${this.closed ? 'the store is closed' : 'past the pending bound with no owner to read them again'}`);
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || this.retryTimer) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.startCommit();
    };
    const wait = this.lastCommitAt + this.minCommitIntervalMs - this.now();
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  }

  private startCommit(): Promise<void> | null {
    if (this.inFlight) return this.inFlight;
    if (this.current.empty) return null;
    const batch = this.current;
    this.current = new Batch();
    this.committing = batch;
    // Waiters on deferred writes wait for the batch that starts once the deferred keys are all handed over.
    if (this.deferred.size === 0) {
      this.committingWaiters = this.currentWaiters;
      this.currentWaiters = [];
    }
    const began = this.now();
    this.lastCommitAt = began;
    const done = this.committer.commit(batch).then(
      () => {
        const took = this.now() - began;
        const c = this.counters;
        c.commits++;
        c.writes += batch.writes;
        c.writeBytes += batch.bytes;
        if (took > c.slowestCommitMs) c.slowestCommitMs = took;
        if (this.retryMs !== RETRY_FIRST_MS) this.log(`store ${this.label}: writing again after ${c.commitErrors} failed commit(s)`);
        this.retryMs = RETRY_FIRST_MS;
        const waiters = this.committingWaiters;
        this.committingWaiters = [];
        for (const fn of [() => this.committer.committed?.(batch), ...waiters]) {
          try {
            fn();
          } catch (err) {
            this.log(`store ${this.label}: a durability listener failed: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
        this.settle();
      },
      (err: unknown) => {
        this.counters.commitErrors++;
        this.failureLog.write(`store ${this.label}: commit failed (${err instanceof Error ? err.message : String(err)}); retrying, ${this.pendingBytes} bytes pending`);
        batch.absorb(this.current);
        this.current = batch;
        this.currentWaiters = this.committingWaiters.concat(this.currentWaiters);
        this.committingWaiters = [];
        this.settle();
        throw err;
      },
    );
    this.inFlight = done;
    done.catch(() => {
      if (this.closed && this.retryTimer === null) return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.startCommit()?.catch(() => {});
      }, this.retryMs);
      this.retryTimer.unref();
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    });
    return done;
  }

  private settle(): void {
    this.committing = null;
    this.inFlight = null;
    if (this.retryTimer) return;
    if (this.deferred.size > 0 && this.pendingBytes < this.maxPendingBytes / 2) this.drainDeferred(this.maxPendingBytes / 4);
    if (!this.current.empty) this.schedule();
  }

  /** Hands over the current values of deferred keys, up to `budget` bytes (Infinity: all of them). */
  private drainDeferred(budget: number): void {
    const d = this.deferred;
    const batch = this.current;
    const start = batch.bytes;
    const now = this.now();
    const s = this.source;
    const spent = (): boolean => batch.bytes - start >= budget;
    for (const key of d.retained) {
      if (spent()) return;
      d.retained.delete(key);
      d.size--;
      batch.setRetained(key, s.retained?.(key) ?? null, now);
    }
    for (const [cid, topics] of d.cidRetained) {
      for (const topic of topics) {
        if (spent()) return;
        topics.delete(topic);
        d.size--;
        batch.setCidRetained(cid, topic, s.cidRetained?.(cid, topic) ?? null, now);
      }
      d.cidRetained.delete(cid);
    }
    for (const id of d.sessions) {
      if (spent()) return;
      d.sessions.delete(id);
      d.size--;
      const data = s.session?.(id);
      batch.setSession(id, data ? encodeData(data) : null, now);
    }
    for (const [log, from] of d.logs) {
      if (spent()) return;
      d.logs.delete(log);
      d.size--;
      const held = s.log?.(log, from);
      if (!held) {
        batch.dropLog(log, now);
        continue;
      }
      batch.trimLog(log, held.meta.first, now);
      for (const entry of held.entries) if (entry.offset >= from) batch.putLogEntry(log, entry, now);
      batch.putLogMeta(log, held.meta, now);
    }
    if (d.size === 0) d.since = 0;
  }

  /**
   * Resolves once every write handed over before the call — deferred ones included, whatever the bound — is
   * committed; rejects with the engine's error when a commit fails meanwhile (the writes stay queued and retried).
   */
  async flush(): Promise<void> {
    for (;;) {
      if (this.inFlight) {
        await this.inFlight;
        continue;
      }
      if (this.retryTimer) {
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
      }
      if (this.deferred.size > 0) this.drainDeferred(Infinity);
      const started = this.startCommit();
      if (!started) return;
      await started;
    }
  }

  /** Stops as a crash would: what is not committed is dropped (a commit under way finishes or not, whole). */
  abandon(): void {
    this.closed = true;
    this.current = new Batch();
    this.currentWaiters = [];
    this.deferred.clear();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Flushes; later writes are dropped and counted. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.closed = true;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }
}
