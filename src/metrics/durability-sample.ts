// The durable store's and the histories' figures as a metrics sample carries them (store/admin.ts fills it). Plain
// numbers only: the dashboard's browser code reads this type too.
/** The durable store's figures: its kind and place, its size, writes, commits and how far behind it is. */
export interface StoreSample {
  readonly kind: 'memory' | 'lmdb' | 'redis';
  readonly location: string;
  readonly sizeBytes: number;
  readonly writes: number;
  readonly writeBytes: number;
  readonly commits: number;
  readonly commitErrors: number;
  readonly pendingWrites: number;
  readonly pendingBytes: number;
  readonly deferredKeys: number;
  readonly droppedWrites: number;
  readonly flushLagSeconds: number;
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
