// The embedded store (`--data-dir <dir>`): one LMDB environment, `<dir>/iosig.mdb`, with a database per table.
// LMDB gives real transactions (a batch is all there or not at all, whatever kills the process), copy-on-write
// pages (a crash never leaves a half-written record) and reads straight from the page cache.
//
// Durability: a transaction is "committed" when its pages are written to the file (it then survives SIGKILL and
// any crash of the process) and "flushed" once fsync'ed (it survives the machine losing power). A batch counts as
// done once flushed: the history shows entries to positioned readers only then, so no restart of any kind can take
// back an offset a reader holds. Batches grow while an fsync runs, so this costs latency, not throughput.
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, unlinkSync, statSync, writeSync, ftruncateSync, fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { applyBatch, type ApplyTarget } from './apply.js';
import type { Batch } from './batch.js';
import { BufferedStore, type StoreOptions } from './buffered-store.js';
import { decodeEntry, decodeFormat, decodeMeta, decodeRetained, decodeSession, encodeFormat, encodeRetained, type FormatRecord } from './codec.js';
import { admitFormat, moveAsideHint, StoreOpenError } from './format.js';
import { lmdbFileProblem } from './lmdb-file.js';
import { encodeRecord, hasRetained, JournalFile, MIXED, readJournalFile, RetainedChanges } from './journal.js';
import type { KeyPage, LogEntry, LogMeta, OpenReport, RetainedValue, SessionData, StoreVisitor } from './types.js';

export const STORE_FILE = 'iosig.mdb';
export const LOCK_FILE = 'iosig.pid';
export const JOURNAL_FILE = 'iosig.journal';
/** Retained changes are written to LMDB rows at most this long after their journal record (docs/durability.md §4). */
const CHECKPOINT_MS = 1000;
/** … or once the journal holds this much. */
const CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Meta keys: the last journal sequence written to LMDB rows, and the last mixed batch whose rows committed. */
const CHECKPOINT_KEY = 'journalCheckpoint';
const MIXED_KEY = 'journalMixed';
/** LMDB's key limit is 1978 bytes; ids and channel keys are far below it, anything longer is not stored (logged). */
const MAX_KEY_BYTES = 1900;
const FORMAT_KEY = 'format';

type Bin = Database<Buffer, string>;

export class LmdbStore extends BufferedStore {
  readonly kind = 'lmdb' as const;
  readonly opened: OpenReport;
  readonly file: string;
  private readonly env: RootDatabase<Buffer, string>;
  private readonly meta: Bin;
  private readonly retained: Bin;
  private readonly cidRetained: Database<Buffer, [string, string]>;
  private readonly sessions: Bin;
  private readonly logs: Database<Buffer, [string, number]>;
  private readonly metas: Bin;
  private readonly lockFile: string;
  private format: FormatRecord;
  private readonly log: (line: string) => void;
  readonly journalFile: string;
  private journal: JournalFile | null = null;
  private journalSize = 0;
  /** Journaled retained changes not yet in LMDB rows, and those a checkpoint is writing. */
  private changes = new RetainedChanges();
  private checkpointing: RetainedChanges | null = null;
  private seq = 0;
  private lastCheckpoint = Date.now();
  private readonly checkpointMs: number;
  /** Commits and checkpoints run one at a time (a flush's checkpoint must not truncate under an append). */
  private exclusive: Promise<unknown> = Promise.resolve();

  /** Opens (creating when absent) the store in `dir`; throws a StoreOpenError naming the file and the way out. */
  static open(dir: string, options: StoreOptions = {}): LmdbStore {
    return new LmdbStore(dir, options);
  }

  private constructor(
    readonly dir: string,
    options: StoreOptions,
  ) {
    const file = join(dir, STORE_FILE);
    super(file, options);
    this.file = file;
    this.log = options.log ?? (() => {});
    this.checkpointMs = options.checkpointMs ?? CHECKPOINT_MS;
    const wayOut = moveAsideHint(dir);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new StoreOpenError(dir, `the data directory cannot be created (${messageOf(err)})`, 'Create it with write access for this user, or point --data-dir elsewhere.');
    }
    this.lockFile = join(dir, LOCK_FILE);
    takeLock(this.lockFile, dir);
    const damage = existsSync(file) ? lmdbFileProblem(file) : null;
    if (damage) {
      releaseLock(this.lockFile);
      throw new StoreOpenError(file, damage, wayOut);
    }
    let env: RootDatabase<Buffer, string> | undefined;
    try {
      try {
        env = open<Buffer, string>({ path: file, noSubdir: true, maxDbs: 8, encoding: 'binary' });
        this.env = env;
        const db = <K extends string | [string, string] | [string, number]>(name: string): Database<Buffer, K> => this.env.openDB<Buffer, K>({ name, encoding: 'binary' });
        this.meta = db<string>('meta');
        this.retained = db<string>('retained');
        this.cidRetained = db<[string, string]>('cidRetained');
        this.sessions = db<string>('sessions');
        this.logs = db<[string, number]>('logs');
        this.metas = db<string>('logMeta');
      } catch (err) {
        throw new StoreOpenError(file, `it cannot be opened as an LMDB store (${messageOf(err)})`, wayOut);
      }
      let found: FormatRecord | null | 'absent';
      let hasData: boolean;
      try {
        const bytes = this.meta.get(FORMAT_KEY);
        found = bytes ? decodeFormat(bytes) : 'absent';
        hasData = [this.retained, this.sessions, this.metas].some((d) => d.getKeysCount({ limit: 1 }) > 0) || this.cidRetained.getKeysCount({ limit: 1 }) > 0 || this.logs.getKeysCount({ limit: 1 }) > 0;
      } catch (err) {
        throw new StoreOpenError(file, `it cannot be read (${messageOf(err)})`, wayOut);
      }
      const { report, record } = admitFormat(found, hasData, file, wayOut, options.version ?? '', Date.now());
      this.opened = report;
      this.format = record;
      this.meta.putSync(FORMAT_KEY, encodeFormat(record));
      this.journalFile = join(dir, JOURNAL_FILE);
      try {
        this.recoverJournal();
      } catch (err) {
        throw new StoreOpenError(this.journalFile, `the journal cannot be read back (${messageOf(err)})`, wayOut);
      }
    } catch (err) {
      releaseLock(this.lockFile);
      void env?.close();
      throw err;
    }
  }

  /**
   * The writes of one batch, queued with lmdb-js's asynchronous put/remove: they are all made in this event turn,
   * so lmdb-js commits them as one transaction, and the B-tree work runs on its writer thread, not on the event
   * loop. Range deletes read the keys to delete first (from the last commit: one commit is in flight at a time).
   */
  private applyTarget(last: { write: Promise<unknown> | null }): ApplyTarget {
    const keyFits = (what: string, a: string, b = ''): boolean => {
      // UTF-16 units × 3 bound the UTF-8 length: the exact count only for long keys.
      if ((a.length + b.length) * 3 <= MAX_KEY_BYTES || Buffer.byteLength(a) + Buffer.byteLength(b) <= MAX_KEY_BYTES) return true;
      this.log(`store ${this.file}: a ${what} key over ${MAX_KEY_BYTES} bytes is not stored`);
      return false;
    };
    const put = <K extends string | [string, string] | [string, number]>(db: Database<Buffer, K>, key: K, bytes: Buffer): void => {
      last.write = db.put(key, bytes);
    };
    const remove = <K extends string | [string, string] | [string, number]>(db: Database<Buffer, K>, key: K): void => {
      last.write = db.remove(key);
    };
    const removeRange = <K extends [string, string] | [string, number]>(db: Database<Buffer, K>, head: string, below?: number): void => {
      const doomed: K[] = [];
      for (const key of db.getKeys({ start: [head] as unknown as K })) {
        if (key[0] !== head || (below !== undefined && (key[1] as number) >= below)) break;
        doomed.push(key);
      }
      for (const key of doomed) remove(db, key);
    };
    return {
      putRetained: (key, bytes) => keyFits('retained', key) && put(this.retained, key, bytes),
      deleteRetained: (key) => remove(this.retained, key),
      putCidRetained: (cid, topic, bytes) => keyFits('CID-retained', cid, topic) && put(this.cidRetained, [cid, topic], bytes),
      deleteCidRetained: (cid, topic) => remove(this.cidRetained, [cid, topic]),
      dropCid: (cid) => removeRange(this.cidRetained, cid),
      putSession: (id, bytes) => keyFits('session', id) && put(this.sessions, id, bytes),
      deleteSession: (id) => remove(this.sessions, id),
      putEntry: (log, offset, bytes) => keyFits('log', log) && put(this.logs, [log, offset], bytes),
      deleteEntry: (log, offset) => remove(this.logs, [log, offset]),
      trim: (log, first) => removeRange(this.logs, log, first),
      putMeta: (log, bytes) => keyFits('log', log) && put(this.metas, log, bytes),
      dropLog: (log) => {
        removeRange(this.logs, log);
        remove(this.metas, log);
      },
    };
  }

  /**
   * The journal's records since the last checkpoint are written to LMDB rows before anything is read: a record of
   * a mixed batch whose rows never committed (the stop came between the two) is dropped with everything after it,
   * so a batch is all there or not at all.
   */
  private recoverJournal(): void {
    const { records, size } = readJournalFile(this.journalFile, this.log);
    const checkpoint = this.metaNumber(CHECKPOINT_KEY);
    const mixed = this.metaNumber(MIXED_KEY);
    const changes = new RetainedChanges();
    let last = checkpoint;
    let dropped = 0;
    for (const record of records) {
      if (record.seq <= checkpoint) continue;
      if (dropped > 0 || ((record.flags & MIXED) !== 0 && record.seq > mixed)) {
        dropped++;
        continue;
      }
      record.apply(changes);
      last = record.seq;
    }
    if (dropped > 0) this.log(`store ${this.journalFile}: ${dropped} journal record(s) of a batch that did not commit whole are dropped`);
    this.seq = Math.max(last, checkpoint, mixed, records.length > 0 ? records[records.length - 1]!.seq : 0);
    if (!changes.empty) {
      this.env.transactionSync(() => {
        this.applyChanges(changes, (db, key, bytes) => (bytes ? db.putSync(key, bytes) : db.removeSync(key)));
        this.meta.putSync(CHECKPOINT_KEY, numberBytes(this.seq));
      });
    }
    if (size > 0) {
      const fd = openSync(this.journalFile, 'r+');
      try {
        ftruncateSync(fd, 0);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    this.journalSize = 0;
  }

  private metaNumber(key: string): number {
    const bytes = this.meta.get(key);
    return bytes && bytes.length === 8 ? bytes.readDoubleBE(0) : 0;
  }

  /** Retained changes onto LMDB rows through `write` (a put, or a delete when `bytes` is null). */
  private applyChanges(changes: RetainedChanges, write: <K extends string | [string, string]>(db: Database<Buffer, K>, key: K, bytes: Buffer | null) => unknown): void {
    for (const [key, value] of changes.retained) write(this.retained, key, value ? encodeRetained(value) : null);
    for (const [cid, { drop, topics }] of changes.cids) {
      if (drop) {
        const doomed: Array<[string, string]> = [];
        for (const key of this.cidRetained.getKeys({ start: [cid] as unknown as [string, string] })) {
          if (key[0] !== cid) break;
          if (!topics.has(key[1])) doomed.push(key);
        }
        for (const key of doomed) write(this.cidRetained, key, null);
      }
      for (const [topic, value] of topics) write(this.cidRetained, [cid, topic], value ? encodeRetained(value) : null);
    }
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(fn, fn);
    this.exclusive = run.catch(() => undefined);
    return run;
  }

  protected commit(batch: Batch): Promise<void> {
    return this.serially(async () => {
      const journaled = hasRetained(batch);
      const rows = batch.sessions.size > 0 || batch.logs.size > 0;
      const seq = ++this.seq;
      if (journaled) {
        this.journal ??= await JournalFile.open(this.journalFile, this.journalSize);
        await this.journal.append(encodeRecord(batch, seq, rows ? MIXED : 0));
        this.changes.add(batch);
      }
      if (rows) {
        const last: { write: Promise<unknown> | null } = { write: null };
        applyBatch(batch, this.applyTarget(last), false);
        if (journaled) last.write = this.meta.put(MIXED_KEY, numberBytes(seq));
        if (last.write) await last.write;
        await this.env.flushed;
      }
      const due = Date.now() - this.lastCheckpoint >= this.checkpointMs || (this.journal?.size ?? 0) >= CHECKPOINT_BYTES;
      if (due) await this.checkpoint();
    });
  }

  /** Writes the journaled changes to LMDB rows (one transaction, coalesced), then empties the journal. */
  private async checkpoint(): Promise<void> {
    this.lastCheckpoint = Date.now();
    if (this.changes.empty) return;
    const changes = this.changes;
    this.changes = new RetainedChanges();
    this.checkpointing = changes;
    try {
      let last: Promise<unknown> | null = null;
      this.applyChanges(changes, (db, key, bytes) => (last = bytes ? db.put(key, bytes) : db.remove(key)));
      last = this.meta.put(CHECKPOINT_KEY, numberBytes(this.seq));
      await last;
      await this.env.flushed;
      await this.journal?.truncate();
    } catch (err) {
      // The rows did not commit: the changes stay journaled and go with the next checkpoint.
      for (const [key, value] of changes.retained) if (!this.changes.retained.has(key)) this.changes.retained.set(key, value);
      for (const [cid, entry] of changes.cids) if (!this.changes.cids.has(cid)) this.changes.cids.set(cid, entry);
      throw err;
    } finally {
      this.checkpointing = null;
    }
  }

  /** Everything handed over is committed, and the journal written to rows (the admin reads rows). */
  override async flush(): Promise<void> {
    await super.flush();
    await this.serially(() => this.checkpoint());
  }

  /** A retained change not yet in rows, when there is one (undefined: read the rows). */
  private pendingRetained(key: string): RetainedValue | null | undefined {
    for (const set of [this.changes, this.checkpointing]) if (set?.retained.has(key)) return set.retained.get(key);
    return undefined;
  }

  private pendingCid(cid: string, topic: string): RetainedValue | null | undefined {
    for (const set of [this.changes, this.checkpointing]) {
      const entry = set?.cids.get(cid);
      if (!entry) continue;
      const v = entry.topics.get(topic);
      if (v !== undefined) return v;
      if (entry.drop) return null;
    }
    return undefined;
  }

  protected sizeBytes(): number {
    try {
      return statSync(this.file).size + (this.journal?.size ?? 0);
    } catch {
      return 0;
    }
  }

  protected async release(clean: boolean): Promise<void> {
    try {
      if (clean) await this.serially(() => this.checkpoint());
      await this.journal?.close();
      this.journal = null;
      if (clean) {
        this.format = { ...this.format, state: 'clean' };
        await this.meta.put(FORMAT_KEY, encodeFormat(this.format));
        await this.env.flushed;
      }
      await this.env.close();
    } finally {
      releaseLock(this.lockFile);
    }
  }

  async load(visitor: StoreVisitor): Promise<void> {
    if (visitor.retained) for (const { key, value } of this.retained.getRange()) visitor.retained(key, decodeRetained(value, 'retained', key));
    if (visitor.cidRetained) {
      for (const { key, value } of this.cidRetained.getRange()) visitor.cidRetained(key[0], key[1], decodeRetained(value, 'cidRetained', `${key[0]}@${key[1]}`));
    }
    if (visitor.session) for (const { key, value } of this.sessions.getRange()) visitor.session(key, decodeSession(value, key));
    if (visitor.log) {
      const metas = new Map<string, LogMeta>();
      for (const { key, value } of this.metas.getRange()) metas.set(key, decodeMeta(value, key));
      let name: string | null = null;
      let entries: LogEntry[] = [];
      const emit = (): void => {
        if (name === null) return;
        visitor.log!(name, metas.get(name), entries);
        metas.delete(name);
      };
      for (const { key, value } of this.logs.getRange()) {
        if (key[0] !== name) {
          emit();
          name = key[0];
          entries = [];
        }
        entries.push(decodeEntry(value, key[1], key[0]));
      }
      emit();
      for (const [log, meta] of metas) visitor.log(log, meta, []);
    }
  }

  async getRetained(key: string): Promise<RetainedValue | undefined> {
    const pending = this.pendingRetained(key);
    if (pending !== undefined) return pending ?? undefined;
    const bytes = this.retained.get(key);
    return bytes ? decodeRetained(bytes, 'retained', key) : undefined;
  }

  async getCidRetained(cid: string, topic: string): Promise<RetainedValue | undefined> {
    const pending = this.pendingCid(cid, topic);
    if (pending !== undefined) return pending ?? undefined;
    const bytes = this.cidRetained.get([cid, topic]);
    return bytes ? decodeRetained(bytes, 'cidRetained', `${cid}@${topic}`) : undefined;
  }

  async cidRetainedOf(cid: string): Promise<Array<[topic: string, value: RetainedValue]>> {
    const found = new Map<string, RetainedValue | null>();
    for (const { key, value } of this.cidRetained.getRange({ start: [cid] as unknown as [string, string] })) {
      if (key[0] !== cid) break;
      found.set(key[1], decodeRetained(value, 'cidRetained', `${cid}@${key[1]}`));
    }
    // Journaled changes not yet in rows, the older set first.
    for (const set of [this.checkpointing, this.changes]) {
      const entry = set?.cids.get(cid);
      if (!entry) continue;
      if (entry.drop) found.clear();
      for (const [topic, value] of entry.topics) found.set(topic, value);
    }
    return [...found].filter((e): e is [string, RetainedValue] => e[1] !== null);
  }

  async getSession(clientId: string): Promise<SessionData | undefined> {
    const bytes = this.sessions.get(clientId);
    return bytes ? decodeSession(bytes, clientId) : undefined;
  }

  async getLogMeta(log: string): Promise<LogMeta | undefined> {
    const bytes = this.metas.get(log);
    return bytes ? decodeMeta(bytes, log) : undefined;
  }

  async readLog(log: string, from: number, limit: number): Promise<LogEntry[]> {
    const out: LogEntry[] = [];
    if (limit <= 0) return out;
    for (const { key, value } of this.logs.getRange({ start: [log, from] })) {
      if (key[0] !== log) break;
      out.push(decodeEntry(value, key[1], log));
      if (out.length >= limit) break;
    }
    return out;
  }

  async listRetained(prefix: string, cursor: string | null, limit: number): Promise<KeyPage> {
    return keyPage(this.retained.getKeys({ start: cursor ?? prefix }), prefix, cursor, limit);
  }

  async listLogs(prefix: string, cursor: string | null, limit: number): Promise<KeyPage> {
    const names = new Set<string>();
    // Logs with entries and logs with only a meta (every entry trimmed by age).
    for (const key of this.metas.getKeys({ start: cursor ?? prefix })) {
      if (!key.startsWith(prefix)) break;
      if (cursor === null || key > cursor) names.add(key);
      if (names.size > limit) break;
    }
    let last: string | null = null;
    for (const key of this.logs.getKeys({ start: [cursor ?? prefix] as unknown as [string, number] })) {
      if (!key[0].startsWith(prefix)) break;
      if (key[0] === last || (cursor !== null && key[0] <= cursor)) continue;
      last = key[0];
      names.add(key[0]);
      if (names.size > 2 * limit) break;
    }
    return keyPage([...names].sort(), prefix, cursor, limit);
  }
}

function keyPage(keys: Iterable<string>, prefix: string, cursor: string | null, limit: number): KeyPage {
  const page: string[] = [];
  let more = false;
  for (const key of keys) {
    if (!key.startsWith(prefix)) break;
    if (cursor !== null && key <= cursor) continue;
    if (page.length >= limit) {
      more = true;
      break;
    }
    page.push(key);
  }
  return { keys: page, next: more ? page[page.length - 1]! : null };
}

function numberBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleBE(n, 0);
  return b;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * One process per data directory: two servers writing one store would each believe they hold the truth. The pid
 * file is taken over when its process is gone (a crash leaves it behind).
 */
function takeLock(lockFile: string, dir: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(lockFile, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StoreOpenError(lockFile, `the lock file cannot be written (${messageOf(err)})`, 'Give this user write access to the data directory.');
      const pid = Number.parseInt(readFileSafe(lockFile), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new StoreOpenError(dir, `it is in use by process ${pid} (another io-server with the same --data-dir?)`, `Stop that process, or give this one its own --data-dir. If process ${pid} is not an io-server, remove ${lockFile}.`);
      }
      try {
        unlinkSync(lockFile);
      } catch {
        // raced with another starter: the next attempt decides
      }
      continue;
    }
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return;
  }
  throw new StoreOpenError(lockFile, 'the lock file keeps reappearing (another process is starting on this data directory)', 'Start one io-server per --data-dir.');
}

function releaseLock(lockFile: string): void {
  try {
    if (readFileSafe(lockFile) === String(process.pid)) unlinkSync(lockFile);
  } catch {
    // already gone
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes a pid lock as another process would (tests). */
export function writeLockFor(dir: string, pid: number): void {
  writeFileSync(join(dir, LOCK_FILE), String(pid));
}
