// The embedded store (`--data-dir <dir>`): one LMDB environment, `<dir>/iosig.mdb`, with a database per table.
// LMDB gives real transactions (a batch is all there or not at all, whatever kills the process), copy-on-write
// pages (a crash never leaves a half-written record) and reads straight from the page cache.
//
// Durability: a transaction is "committed" when its pages are written to the file (it then survives SIGKILL and
// any crash of the process) and "flushed" once fsync'ed (it survives the machine losing power). A batch counts as
// done once flushed: the history shows entries to positioned readers only then, so no restart of any kind can take
// back an offset a reader holds. Batches grow while an fsync runs, so this costs latency, not throughput.
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, unlinkSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { applyBatch, type ApplyTarget } from './apply.js';
import type { Batch } from './batch.js';
import { BufferedStore, type StoreOptions } from './buffered-store.js';
import { decodeEntry, decodeFormat, decodeMeta, decodeRetained, decodeSession, encodeFormat, type FormatRecord } from './codec.js';
import { admitFormat, moveAsideHint, StoreOpenError } from './format.js';
import { lmdbFileProblem } from './lmdb-file.js';
import type { KeyPage, LogEntry, LogMeta, OpenReport, RetainedValue, SessionData, StoreVisitor } from './types.js';

export const STORE_FILE = 'iosig.mdb';
export const LOCK_FILE = 'iosig.pid';
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

  protected async commit(batch: Batch): Promise<void> {
    const last: { write: Promise<unknown> | null } = { write: null };
    applyBatch(batch, this.applyTarget(last));
    if (last.write) await last.write;
    await this.env.flushed;
  }

  protected sizeBytes(): number {
    try {
      return statSync(this.file).size;
    } catch {
      return 0;
    }
  }

  protected async release(clean: boolean): Promise<void> {
    try {
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
    const bytes = this.retained.get(key);
    return bytes ? decodeRetained(bytes, 'retained', key) : undefined;
  }

  async getCidRetained(cid: string, topic: string): Promise<RetainedValue | undefined> {
    const bytes = this.cidRetained.get([cid, topic]);
    return bytes ? decodeRetained(bytes, 'cidRetained', `${cid}@${topic}`) : undefined;
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
