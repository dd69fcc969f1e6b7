// The store in Redis, for a cluster (`--cluster`): every node reads and writes the same records, so a device that
// reconnects to another node finds its session and the retained values there. Keys, under the cluster prefix:
//
//   <p>:store            the format record (string)
//   <p>:ret              hash  channel key → retained value
//   <p>:cret:<cid>       hash  topic → CID-retained value (one key per CID: dropping a CID's values is one DEL)
//   <p>:sess             hash  client id → session record
//   <p>:log:h:<channel>  stream of a channel's history: entry id <offset>-0, field `e` = the entry
//   <p>:log:q:<client>   hash of a session's queue: field <offset> → the entry (queues change entries in place and
//                        complete them out of order, which a stream cannot do)
//   <p>:logm:<log>       string: the log's meta
//
// Values are the bytes of codec.ts, as in LMDB. One batch is one MULTI/EXEC (a transaction: all of it or none of
// it); on a Redis Cluster, where one transaction cannot span slots, one pipeline (each command atomic on its own).
// How much survives Redis itself dying is Redis's persistence: with `appendonly yes` and `appendfsync always`
// everything acknowledged; with `everysec` up to a second (docs/durability.md).
import type { Cluster, Redis } from 'ioredis';
import type { ApplyTarget } from './apply.js';
import { applyBatch } from './apply.js';
import type { Batch } from './batch.js';
import { BufferedStore, type StoreOptions } from './buffered-store.js';
import { decodeEntry, decodeFormat, decodeMeta, decodeRetained, decodeSession, encodeFormat, type FormatRecord } from './codec.js';
import { admitFormat, StoreOpenError } from './format.js';
import { HISTORY_LOG_PREFIX, type KeyPage, type LogEntry, type LogMeta, type OpenReport, type RetainedValue, type SessionData, type StoreVisitor } from './types.js';

type RedisClient = Redis | Cluster;

/** A command queue both MULTI and a pipeline offer (the subset the store uses). */
interface CommandQueue {
  set(key: string, value: Buffer): unknown;
  del(...keys: string[]): unknown;
  hset(key: string, field: string, value: Buffer): unknown;
  hdel(key: string, field: string): unknown;
  xadd(key: string, id: string, field: string, value: Buffer): unknown;
  xdel(key: string, id: string): unknown;
  xtrim(key: string, strategy: 'MINID', threshold: string): unknown;
  eval(script: string, keys: number, ...args: (string | number)[]): unknown;
  exec(): Promise<[Error | null, unknown][] | null>;
}

export interface RedisStoreOptions extends StoreOptions {
  /** The cluster prefix (default `iosig`). */
  prefix?: string;
  /** One MULTI/EXEC per batch (default: true for a single Redis, false for a Redis Cluster). */
  transactions?: boolean;
}

const SCAN_COUNT = 1000;
const SIZE_SAMPLE_MS = 10_000;
/** Deletes a queue hash's fields below ARGV[1]. */
const TRIM_HASH = `local n = tonumber(ARGV[1]) for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do if tonumber(f) < n then redis.call('HDEL', KEYS[1], f) end end return 0`;

/** Glob-escapes `text` for SCAN/HSCAN MATCH. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

const isStream = (log: string): boolean => log.startsWith(HISTORY_LOG_PREFIX);
const streamId = (offset: number): string => `${offset}-0`;

export class RedisStore extends BufferedStore {
  readonly kind = 'redis' as const;
  readonly opened: OpenReport;
  private readonly p: string;
  private readonly transactions: boolean;
  private format: FormatRecord;
  private size = 0;
  private sizeAt = 0;

  /**
   * Opens the store on a connected client (the cluster's command connection). `runId`: Redis's run_id now; when the
   * format record names another, Redis restarted since and may have lost its last writes (cleanShutdown false).
   */
  static async open(redis: RedisClient, location: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const prefix = options.prefix ?? 'iosig';
    let bytes: Buffer | null;
    let runId: string;
    let hasData: boolean;
    try {
      bytes = await redis.getBuffer(`${prefix}:store`);
      runId = /run_id:(\w+)/.exec(await redis.info('server'))?.[1] ?? '';
      hasData = (await redis.exists(`${prefix}:ret`, `${prefix}:sess`)) > 0;
    } catch (err) {
      throw new StoreOpenError(location, `Redis cannot be read (${err instanceof Error ? err.message : String(err)})`, 'Check that Redis is up and the URL and credentials are right.');
    }
    const wayOut = `Nothing was changed. To start with an empty store, delete or rename the keys ${prefix}:* (or use another --cluster-prefix).`;
    const found = bytes ? decodeFormat(bytes) : 'absent';
    const { report, record } = admitFormat(found, hasData, `${location} (${prefix}:store)`, wayOut, options.version ?? '', Date.now());
    const previousRun = found !== 'absent' ? found?.runId : runId;
    const store = new RedisStore(redis, location, prefix, { ...report, cleanShutdown: report.cleanShutdown || previousRun === runId }, { ...record, runId }, options);
    await redis.set(`${prefix}:store`, encodeFormat(store.format));
    return store;
  }

  private constructor(
    private readonly redis: RedisClient,
    location: string,
    prefix: string,
    opened: OpenReport,
    format: FormatRecord,
    options: RedisStoreOptions,
  ) {
    super(location, options);
    this.p = prefix;
    this.opened = opened;
    this.format = format;
    this.transactions = options.transactions ?? !('nodes' in redis && typeof redis.nodes === 'function');
  }

  private key(kind: string, rest = ''): string {
    return `${this.p}:${kind}${rest}`;
  }

  protected async commit(batch: Batch): Promise<void> {
    const queue = (this.transactions ? this.redis.multi() : this.redis.pipeline()) as unknown as CommandQueue;
    applyBatch(batch, this.target(queue));
    const results = await queue.exec();
    if (!results) throw new Error('the Redis transaction was discarded');
    for (const [err] of results) {
      // An entry already there (a retried batch that had gone through) is not a failure.
      if (err && !/equal or smaller than the target stream top item/.test(err.message)) throw err;
    }
  }

  private target(q: CommandQueue): ApplyTarget {
    const logKey = (log: string): string => this.key('log:', log);
    return {
      putRetained: (key, bytes) => q.hset(this.key('ret'), key, bytes),
      deleteRetained: (key) => q.hdel(this.key('ret'), key),
      putCidRetained: (cid, topic, bytes) => q.hset(this.key('cret:', cid), topic, bytes),
      deleteCidRetained: (cid, topic) => q.hdel(this.key('cret:', cid), topic),
      dropCid: (cid) => q.del(this.key('cret:', cid)),
      putSession: (id, bytes) => q.hset(this.key('sess'), id, bytes),
      deleteSession: (id) => q.hdel(this.key('sess'), id),
      putEntry: (log, offset, bytes) => (isStream(log) ? q.xadd(logKey(log), streamId(offset), 'e', bytes) : q.hset(logKey(log), String(offset), bytes)),
      deleteEntry: (log, offset) => (isStream(log) ? q.xdel(logKey(log), streamId(offset)) : q.hdel(logKey(log), String(offset))),
      trim: (log, first) => (isStream(log) ? q.xtrim(logKey(log), 'MINID', streamId(first)) : q.eval(TRIM_HASH, 1, logKey(log), first)),
      putMeta: (log, bytes) => q.set(this.key('logm:', log), bytes),
      dropLog: (log) => q.del(logKey(log), this.key('logm:', log)),
    };
  }

  protected sizeBytes(): number {
    const now = Date.now();
    if (now - this.sizeAt > SIZE_SAMPLE_MS) {
      this.sizeAt = now;
      this.redis.info('memory').then(
        (text) => {
          this.size = Number(/used_memory:(\d+)/.exec(text)?.[1] ?? 0);
        },
        () => {},
      );
    }
    return this.size;
  }

  protected async release(clean: boolean): Promise<void> {
    if (!clean) return;
    this.format = { ...this.format, state: 'clean' };
    try {
      await this.redis.set(this.key('store'), encodeFormat(this.format));
    } catch {
      // Redis away at shutdown: the next start reads the record as not cleanly closed, which is the truth.
    }
  }

  /** Every key of `match` (SCAN), in pages. */
  private async *scanKeys(match: string): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next;
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }

  /** Every field and value of hash `key` (HSCAN), in pages. */
  private async *scanHash(key: string, match = '*'): AsyncGenerator<Array<[string, Buffer]>> {
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscanBuffer(key, cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next.toString();
      const page: Array<[string, Buffer]> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) page.push([flat[i]!.toString(), flat[i + 1]!]);
      if (page.length > 0) yield page;
    } while (cursor !== '0');
  }

  async load(visitor: StoreVisitor): Promise<void> {
    if (visitor.retained) for await (const page of this.scanHash(this.key('ret'))) for (const [k, v] of page) visitor.retained(k, decodeRetained(v, 'retained', k));
    if (visitor.cidRetained) {
      const head = this.key('cret:');
      for await (const keys of this.scanKeys(`${globEscape(head)}*`)) {
        for (const key of keys) {
          const cid = key.slice(head.length);
          for await (const page of this.scanHash(key)) for (const [topic, v] of page) visitor.cidRetained(cid, topic, decodeRetained(v, 'cidRetained', `${cid}@${topic}`));
        }
      }
    }
    if (visitor.session) for await (const page of this.scanHash(this.key('sess'))) for (const [k, v] of page) visitor.session(k, decodeSession(v, k));
    if (visitor.log) {
      for (const log of await this.allLogs()) visitor.log(log, await this.getLogMeta(log), await this.readLog(log, 0, Infinity));
    }
  }

  private async allLogs(): Promise<string[]> {
    const names = new Set<string>();
    for (const kind of ['log:', 'logm:']) {
      const head = this.key(kind);
      for await (const keys of this.scanKeys(`${globEscape(head)}*`)) for (const key of keys) names.add(key.slice(head.length));
    }
    return [...names].sort();
  }

  async getRetained(key: string): Promise<RetainedValue | undefined> {
    const bytes = await this.redis.hgetBuffer(this.key('ret'), key);
    return bytes ? decodeRetained(bytes, 'retained', key) : undefined;
  }

  async getCidRetained(cid: string, topic: string): Promise<RetainedValue | undefined> {
    const bytes = await this.redis.hgetBuffer(this.key('cret:', cid), topic);
    return bytes ? decodeRetained(bytes, 'cidRetained', `${cid}@${topic}`) : undefined;
  }

  async cidRetainedOf(cid: string): Promise<Array<[topic: string, value: RetainedValue]>> {
    const all = await this.redis.hgetallBuffer(this.key('cret:', cid));
    return Object.entries(all).map(([topic, bytes]) => [topic, decodeRetained(bytes, 'cidRetained', `${cid}@${topic}`)]);
  }

  async getSession(clientId: string): Promise<SessionData | undefined> {
    const bytes = await this.redis.hgetBuffer(this.key('sess'), clientId);
    return bytes ? decodeSession(bytes, clientId) : undefined;
  }

  async getLogMeta(log: string): Promise<LogMeta | undefined> {
    const bytes = await this.redis.getBuffer(this.key('logm:', log));
    return bytes ? decodeMeta(bytes, log) : undefined;
  }

  async readLog(log: string, from: number, limit: number): Promise<LogEntry[]> {
    if (limit <= 0) return [];
    const key = this.key('log:', log);
    const out: LogEntry[] = [];
    if (isStream(log)) {
      const count = Number.isFinite(limit) ? ['COUNT', limit] as const : [];
      const rows = (await this.redis.xrangeBuffer(key, streamId(Math.max(from, 0)), '+', ...(count as ['COUNT', number]))) as Array<[Buffer, Buffer[]]>;
      for (const [id, fields] of rows) {
        const offset = Number(id.toString().split('-')[0]);
        const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 'e');
        if (at < 0) throw new Error(`history ${log}: entry ${offset} has no field "e"`);
        out.push(decodeEntry(fields[at + 1]!, offset, log));
      }
      return out;
    }
    const all = await this.redis.hgetallBuffer(key);
    const offsets = Object.keys(all).map(Number).filter((o) => o >= from).sort((a, b) => a - b);
    for (const o of offsets.slice(0, limit)) out.push(decodeEntry(all[String(o)]!, o, log));
    return out;
  }

  /** The cursor is Redis's HSCAN cursor (opaque); keys of a page are not sorted. */
  async listRetained(prefix: string, cursor: string | null, limit: number): Promise<KeyPage> {
    const [next, flat] = await this.redis.hscan(this.key('ret'), cursor ?? '0', 'MATCH', `${globEscape(prefix)}*`, 'COUNT', Math.max(1, limit));
    const keys: string[] = [];
    for (let i = 0; i < flat.length; i += 2) keys.push(flat[i]!);
    return { keys, next: next === '0' ? null : next };
  }

  /** The cursor is Redis's SCAN cursor (opaque). */
  async listLogs(prefix: string, cursor: string | null, limit: number): Promise<KeyPage> {
    const head = this.key('logm:');
    const [next, found] = await this.redis.scan(cursor ?? '0', 'MATCH', `${globEscape(head + prefix)}*`, 'COUNT', Math.max(1, limit));
    return { keys: found.map((k) => k.slice(head.length)).sort(), next: next === '0' ? null : next };
  }
}
