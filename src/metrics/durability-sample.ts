// The durable store's and the histories' figures as a metrics sample carries them (store/admin.ts fills it). Plain
// numbers only: the dashboard's browser code reads this type too.
/** The durable store's figures, read when scraped (/metrics, /api/status, the dashboard, sudo `store`). */
export interface StoreSample {
  readonly kind: 'memory' | 'lmdb' | 'redis';
  /** The directory, file or Redis it writes to (for logs and the status page). */
  readonly location: string;
  /** Bytes the store occupies: the LMDB file's used pages, Redis's memory for our keys (sampled), or the memory copy. */
  readonly sizeBytes: number;
  /** Records written (put or delete) since start. */
  readonly writes: number;
  /** Bytes of values written since start. */
  readonly writeBytes: number;
  /** Commits (transactions) since start. */
  readonly commits: number;
  /** Commits that failed and were retried. */
  readonly commitErrors: number;
  /** Writes handed over and not yet committed. */
  readonly pendingWrites: number;
  readonly pendingBytes: number;
  /** Keys whose values the store re-reads from their owners once it catches up (past the pending bound). */
  readonly deferredKeys: number;
  /** Writes lost because nobody could be asked for their value again (no StoreSource for their kind). */
  readonly droppedWrites: number;
  /** Age of the oldest write not yet committed, seconds (0 when everything is committed). */
  readonly flushLagSeconds: number;
  /** The longest commit so far, seconds. */
  readonly slowestCommitSeconds: number;
}

/** The channel histories' figures (`--history`). */
export interface HistorySample {
  readonly channels: number;
  readonly entries: number;
  readonly bytes: number;
  readonly evicted: number;
}

/** What a metrics sample says about durable state. */
export interface DurabilitySample {
  /** Null when nothing is kept across restarts (histories in memory only). */
  readonly store: StoreSample | null;
  readonly history: HistorySample | null;
}
