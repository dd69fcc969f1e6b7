// What the three stores share: writes go through one WriteBehind (batched per turn, bounded), figures are summed
// the same way. Each store adds its engine: how a batch commits, how records are read back.
import type { Batch } from './batch.js';
import { WriteBehind, type WriteBehindOptions } from './write-behind.js';
import type {
  DurableListener,
  DurableStore,
  KeyPage,
  LogEntry,
  LogMeta,
  OpenReport,
  RetainedValue,
  SessionData,
  StoreKind,
  StoreSource,
  StoreStats,
  StoreVisitor,
} from './types.js';

export interface StoreOptions extends WriteBehindOptions {
  /** The iosig version, written into the format record. */
  version?: string;
  /** LMDB: how often journaled retained changes are written to rows (ms; default 1000; tests set it long). */
  checkpointMs?: number;
}

export abstract class BufferedStore implements DurableStore {
  protected readonly writes: WriteBehind;
  abstract readonly kind: StoreKind;
  abstract readonly opened: OpenReport;

  constructor(
    readonly location: string,
    options: StoreOptions,
  ) {
    this.writes = new WriteBehind({ commit: (batch) => this.commit(batch), committed: (batch) => this.durable(batch) }, location, options);
  }

  private readonly durableListeners: DurableListener[] = [];

  onDurable(listener: DurableListener): void {
    this.durableListeners.push(listener);
  }

  private durable(batch: Batch): void {
    if (this.durableListeners.length === 0) return;
    const metas = new Map<string, LogMeta>();
    for (const [log, ops] of batch.logs) if (ops.meta) metas.set(log, ops.meta);
    if (metas.size === 0) return;
    for (const listener of this.durableListeners) listener(metas);
  }

  /** Applies one batch atomically. */
  protected abstract commit(batch: Batch): Promise<void>;
  /** Bytes the store occupies (see StoreStats.sizeBytes). */
  protected abstract sizeBytes(): number;
  abstract load(visitor: StoreVisitor): Promise<void>;
  abstract getRetained(key: string): Promise<RetainedValue | undefined>;
  abstract getCidRetained(cid: string, topic: string): Promise<RetainedValue | undefined>;
  abstract cidRetainedOf(cid: string): Promise<Array<[topic: string, value: RetainedValue]>>;
  abstract getSession(clientId: string): Promise<SessionData | undefined>;
  abstract getLogMeta(log: string): Promise<LogMeta | undefined>;
  abstract readLog(log: string, from: number, limit: number): Promise<LogEntry[]>;
  abstract listRetained(prefix: string, cursor: string | null, limit: number): Promise<KeyPage>;
  abstract listLogs(prefix: string, cursor: string | null, limit: number): Promise<KeyPage>;
  /** Releases the engine after the last flush; `clean`: everything was written, so the shutdown is marked clean. */
  protected abstract release(clean: boolean): Promise<void>;

  setSource(source: StoreSource): void {
    this.writes.setSource(source);
  }

  putRetained(key: string, value: RetainedValue): void {
    this.writes.putRetained(key, value);
  }
  deleteRetained(key: string): void {
    this.writes.deleteRetained(key);
  }
  putCidRetained(cid: string, topic: string, value: RetainedValue): void {
    this.writes.putCidRetained(cid, topic, value);
  }
  deleteCidRetained(cid: string, topic?: string): void {
    this.writes.deleteCidRetained(cid, topic);
  }
  putSession(clientId: string, data: SessionData): void {
    this.writes.putSession(clientId, data);
  }
  deleteSession(clientId: string): void {
    this.writes.deleteSession(clientId);
  }
  putLogEntry(log: string, entry: LogEntry): void {
    this.writes.putLogEntry(log, entry);
  }
  removeLogEntry(log: string, offset: number): void {
    this.writes.removeLogEntry(log, offset);
  }
  trimLog(log: string, first: number): void {
    this.writes.trimLog(log, first);
  }
  putLogMeta(log: string, meta: LogMeta): void {
    this.writes.putLogMeta(log, meta);
  }
  dropLog(log: string): void {
    this.writes.dropLog(log);
  }

  whenCommitted(fn: () => void): void {
    this.writes.whenCommitted(fn);
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  private closing: Promise<void> | null = null;

  close(): Promise<void> {
    this.closing ??= (async () => {
      let flushed = false;
      try {
        await this.writes.close();
        flushed = true;
      } finally {
        await this.release(flushed);
      }
    })();
    return this.closing;
  }

  /**
   * @internal Stops as a crash would: writes not yet committed are lost and the shutdown is not marked clean
   * (tests play a crash in process with it; the SIGKILL tests do the real thing).
   */
  async crash(): Promise<void> {
    if (this.closing) return this.closing;
    this.writes.abandon();
    this.closing = this.release(false);
    return this.closing;
  }

  stats(): StoreStats {
    const w = this.writes;
    const c = w.counters;
    return {
      kind: this.kind,
      location: this.location,
      sizeBytes: this.sizeBytes(),
      writes: c.writes,
      writeBytes: c.writeBytes,
      commits: c.commits,
      commitErrors: c.commitErrors,
      pendingWrites: w.pendingWrites,
      pendingBytes: w.pendingBytes,
      deferredKeys: w.deferredKeys,
      droppedWrites: c.droppedWrites,
      flushLagSeconds: w.flushLagMs() / 1000,
      slowestCommitSeconds: c.slowestCommitMs / 1000,
    };
  }
}
