// What the durable store keeps and the one interface its three implementations share (docs/durability.md).
// The store is deliberately dumb: keyed records and numbered logs. What a record means — a retained signal, an MQTT
// session, a channel's history — is decided by its owner (the router, the MQTT hub, src/history/), which also stays
// the authority while the process runs: the store is written behind, and read back only at start-up, by the admin
// functions and, in a cluster, for values another node wrote.
import type { StoreSample } from '../metrics/durability-sample.js';

/** A retained signal (channel- or CID-retained): the whole plaintext message as routed, and who it is charged to. */
export interface RetainedValue {
  readonly msg: Buffer;
  /** The share owner (router/cap-shares.ts: `a:<address>` / `d:<device>`), null for the server, admin and other nodes. */
  readonly owner: string | null;
}

/** One numbered entry of a log (a channel's history, an MQTT session's queue). */
export interface LogEntry {
  /** Position in its log: 1, 2, 3 … with no reuse inside an epoch lineage. */
  readonly offset: number;
  /** When it was written, ms since the epoch (age-based trimming). */
  readonly time: number;
  /** The owner's bytes (a SIGNAL for history; an encoded delivery for a session queue). */
  readonly data: Buffer;
}

/** A log's position record. */
export interface LogMeta {
  /** Names the current run of offsets; a new epoch means "what you hold is not continued here". */
  readonly epoch: string;
  /** Last offset handed out when the meta was written (0: none yet). */
  readonly top: number;
  /** Oldest offset still kept (top + 1 when the log is empty). */
  readonly first: number;
}

/**
 * Plain data of an MQTT session without its deliveries (those are a log: `sessionLog(clientId)`). Plain data:
 * strings, numbers, booleans, arrays, objects and Buffers only (msgpack).
 */
export type SessionData = Readonly<Record<string, unknown>>;

/** Log names: a channel's history and an MQTT session's queue live in one log table under different prefixes. */
export const HISTORY_LOG_PREFIX = 'h:';
export const SESSION_LOG_PREFIX = 'q:';
export const historyLog = (channelKey: string): string => HISTORY_LOG_PREFIX + channelKey;
export const sessionLog = (clientId: string): string => SESSION_LOG_PREFIX + clientId;

/**
 * Writes: handed over synchronously, never awaited, applied in one transaction per event-loop turn (write-batch.ts).
 * The store keeps references to the Buffers it is given until they are written: callers must not change them
 * (the router and the MQTT engine never change a message once built).
 */
export interface StoreWrites {
  putRetained(key: string, value: RetainedValue): void;
  deleteRetained(key: string): void;
  putCidRetained(cid: string, topic: string, value: RetainedValue): void;
  /** One topic, or every topic of `cid` when `topic` is undefined. */
  deleteCidRetained(cid: string, topic?: string): void;
  putSession(clientId: string, data: SessionData): void;
  /** The session record and its log. */
  deleteSession(clientId: string): void;
  /** Appends, or replaces the entry at the same offset (a session's delivery changing state). */
  putLogEntry(log: string, entry: LogEntry): void;
  removeLogEntry(log: string, offset: number): void;
  /** Forgets every entry below `first`. */
  trimLog(log: string, first: number): void;
  /** Kept as given until written: hand over a fresh object each time. */
  putLogMeta(log: string, meta: LogMeta): void;
  /** Entries and meta. */
  dropLog(log: string): void;
}

/**
 * Where the store re-reads current values after it stopped holding them (write-batch.ts: past the pending-bytes
 * bound only the names of what changed are kept). The owners stay the authority, so they can always say what a
 * key holds now; undefined means "gone" and is written as a delete.
 */
export interface StoreSource {
  retained?(key: string): RetainedValue | undefined;
  cidRetained?(cid: string, topic: string): RetainedValue | undefined;
  session?(clientId: string): SessionData | undefined;
  /** The log's meta and its entries from `from` on, in order; undefined when the log is gone. */
  log?(log: string, from: number): { meta: LogMeta; entries: Iterable<LogEntry> } | undefined;
}

/** One page of keys (admin listing). `next` is the cursor of the following page, null at the end. */
export interface KeyPage {
  readonly keys: string[];
  readonly next: string | null;
}

/** Figures of the store, read when scraped (/metrics, /api/status, the dashboard): metrics/durability-sample.ts. */
export type StoreStats = StoreSample;

export type StoreKind = StoreSample['kind'];

/** log → the meta a commit wrote for it. */
export type DurableListener = (metas: ReadonlyMap<string, LogMeta>) => void;

/** Everything found at start-up, handed over record by record (1 M retained keys must not build a second copy). */
export interface StoreVisitor {
  retained?(key: string, value: RetainedValue): void;
  cidRetained?(cid: string, topic: string, value: RetainedValue): void;
  session?(clientId: string, data: SessionData): void;
  /** Each log once, with its entries in offset order. */
  log?(log: string, meta: LogMeta | undefined, entries: LogEntry[]): void;
}

/** What the last run left behind, read at open. */
export interface OpenReport {
  /** False when the previous run did not close the store (a crash, SIGKILL, power loss): see docs/durability.md. */
  readonly cleanShutdown: boolean;
  /** True when the store was created now (nothing to read back). */
  readonly created: boolean;
  /** The format the store was written in (FORMAT_VERSION, or an older one that was read). */
  readonly format: number;
  /** The iosig version that last wrote it ('' when unknown). */
  readonly writtenBy: string;
}

export interface DurableStore extends StoreWrites {
  readonly kind: StoreKind;
  readonly location: string;
  readonly opened: OpenReport;
  /** Where deferred values are re-read (registered by the owners at wiring time). */
  setSource(source: StoreSource): void;
  /**
   * After each commit: the logs whose meta it wrote, with that meta — every entry up to its `top` is now durable
   * (LMDB: fsync'ed; Redis: acknowledged). The history releases positioned deliveries on it (docs/durability.md).
   */
  onDurable(listener: DurableListener): void;
  /** Visits everything, for start-up. Kinds the visitor has no function for are not read. */
  load(visitor: StoreVisitor): Promise<void>;
  getRetained(key: string): Promise<RetainedValue | undefined>;
  getCidRetained(cid: string, topic: string): Promise<RetainedValue | undefined>;
  /** Every CID-retained value of `cid` (a device logging in on a cluster node gets its values from here). */
  cidRetainedOf(cid: string): Promise<Array<[topic: string, value: RetainedValue]>>;
  getSession(clientId: string): Promise<SessionData | undefined>;
  getLogMeta(log: string): Promise<LogMeta | undefined>;
  /** Entries from offset `from` on, in order, at most `limit` of them. */
  readLog(log: string, from: number, limit: number): Promise<LogEntry[]>;
  /** Admin listing: retained channel keys starting with `prefix`, `limit` per page, resumed from `cursor`. */
  listRetained(prefix: string, cursor: string | null, limit: number): Promise<KeyPage>;
  /** Admin listing of log names starting with `prefix` (`h:` for histories). */
  listLogs(prefix: string, cursor: string | null, limit: number): Promise<KeyPage>;
  /**
   * Calls `fn` once everything handed over before the call is committed (at once when nothing is pending); never
   * when the process stops first. Cheaper than flush() per message: no promise, no commit forced.
   */
  whenCommitted(fn: () => void): void;
  /** Resolves once everything handed over before the call is committed (rejects when the store is closed). */
  flush(): Promise<void>;
  /** Flushes, marks the shutdown clean and releases the store; later writes are refused (counted as dropped). */
  close(): Promise<void>;
  stats(): StoreStats;
}
