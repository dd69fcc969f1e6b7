// The store in memory: for tests (a MemoryVolume outlives the store objects, so "crash and reopen" can be played
// without a disk) and for running without --data-dir, where it keeps nothing and only counts (volume null).
// Records are kept encoded, exactly as LMDB and Redis keep them, so every codec path is the same.
import { applyBatch, type ApplyTarget } from './apply.js';
import type { Batch } from './batch.js';
import { BufferedStore, type StoreOptions } from './buffered-store.js';
import { decodeEntry, decodeFormat, decodeMeta, decodeRetained, decodeSession, encodeFormat } from './codec.js';
import { admitFormat } from './format.js';
import { pageOf } from './key-page.js';
import type { KeyPage, LogEntry, LogMeta, OpenReport, RetainedValue, SessionData, StoreVisitor } from './types.js';

/** What a memory store has committed; give the same volume to a new store to "restart". */
export class MemoryVolume {
  format: Buffer | null = null;
  readonly retained = new Map<string, Buffer>();
  /** cid → topic → value */
  readonly cidRetained = new Map<string, Map<string, Buffer>>();
  readonly sessions = new Map<string, Buffer>();
  /** log → offset → entry (kept in offset order by sorting on read) */
  readonly logs = new Map<string, Map<number, Buffer>>();
  readonly metas = new Map<string, Buffer>();
  bytes = 0;

  get empty(): boolean {
    return this.retained.size === 0 && this.cidRetained.size === 0 && this.sessions.size === 0 && this.logs.size === 0 && this.metas.size === 0;
  }
}

export interface MemoryStoreOptions extends StoreOptions {
  /** Where committed records go; null keeps nothing (running without a data directory). Default: a new volume. */
  volume?: MemoryVolume | null;
}

export class MemoryStore extends BufferedStore {
  readonly kind = 'memory' as const;
  readonly opened: OpenReport;
  readonly volume: MemoryVolume | null;
  private readonly target: ApplyTarget | null;

  constructor(options: MemoryStoreOptions = {}) {
    const volume = options.volume === undefined ? new MemoryVolume() : options.volume;
    super(volume ? 'memory' : 'memory (nothing kept)', options);
    this.volume = volume;
    const version = options.version ?? '';
    if (!volume) {
      this.opened = { cleanShutdown: true, created: true, format: 0, writtenBy: version };
      this.target = null;
      return;
    }
    const found = volume.format ? decodeFormat(volume.format) : 'absent';
    const { report, record } = admitFormat(found, !volume.empty, 'memory', 'Use a new MemoryVolume.', version, Date.now());
    volume.format = encodeFormat(record);
    this.opened = report;
    this.target = volumeTarget(volume);
  }

  protected async commit(batch: Batch): Promise<void> {
    await Promise.resolve();
    if (this.target) applyBatch(batch, this.target);
  }

  protected sizeBytes(): number {
    return this.volume?.bytes ?? 0;
  }

  protected async release(clean: boolean): Promise<void> {
    const volume = this.volume;
    if (!volume?.format || !clean) return;
    const record = decodeFormat(volume.format);
    if (record) volume.format = encodeFormat({ ...record, state: 'clean' });
  }

  async load(visitor: StoreVisitor): Promise<void> {
    const v = this.volume;
    if (!v) return;
    if (visitor.retained) for (const [key, bytes] of v.retained) visitor.retained(key, decodeRetained(bytes, 'retained', key));
    if (visitor.cidRetained) {
      for (const [cid, topics] of v.cidRetained) for (const [topic, bytes] of topics) visitor.cidRetained(cid, topic, decodeRetained(bytes, 'cidRetained', `${cid}@${topic}`));
    }
    if (visitor.session) for (const [id, bytes] of v.sessions) visitor.session(id, decodeSession(bytes, id));
    if (visitor.log) {
      const names = new Set([...v.logs.keys(), ...v.metas.keys()]);
      for (const log of names) {
        const meta = v.metas.get(log);
        visitor.log(log, meta ? decodeMeta(meta, log) : undefined, this.entries(log, 0, Infinity));
      }
    }
  }

  private entries(log: string, from: number, limit: number): LogEntry[] {
    const entries = this.volume?.logs.get(log);
    if (!entries) return [];
    const offsets = [...entries.keys()].filter((o) => o >= from).sort((a, b) => a - b);
    return offsets.slice(0, limit).map((o) => decodeEntry(entries.get(o)!, o, log));
  }

  async getRetained(key: string): Promise<RetainedValue | undefined> {
    const bytes = this.volume?.retained.get(key);
    return bytes ? decodeRetained(bytes, 'retained', key) : undefined;
  }

  async cidRetainedOf(cid: string): Promise<Array<[topic: string, value: RetainedValue]>> {
    return [...(this.volume?.cidRetained.get(cid) ?? [])].map(([topic, bytes]) => [topic, decodeRetained(bytes, 'cidRetained', `${cid}@${topic}`)]);
  }

  async getCidRetained(cid: string, topic: string): Promise<RetainedValue | undefined> {
    const bytes = this.volume?.cidRetained.get(cid)?.get(topic);
    return bytes ? decodeRetained(bytes, 'cidRetained', `${cid}@${topic}`) : undefined;
  }

  async getSession(clientId: string): Promise<SessionData | undefined> {
    const bytes = this.volume?.sessions.get(clientId);
    return bytes ? decodeSession(bytes, clientId) : undefined;
  }

  async getLogMeta(log: string): Promise<LogMeta | undefined> {
    const bytes = this.volume?.metas.get(log);
    return bytes ? decodeMeta(bytes, log) : undefined;
  }

  async readLog(log: string, from: number, limit: number): Promise<LogEntry[]> {
    return this.entries(log, from, limit);
  }

  async listRetained(prefix: string, cursor: string | null, limit: number): Promise<KeyPage> {
    return pageOf(this.volume?.retained.keys() ?? [], prefix, cursor, limit);
  }

  async listLogs(prefix: string, cursor: string | null, limit: number): Promise<KeyPage> {
    const v = this.volume;
    return pageOf(v ? new Set([...v.logs.keys(), ...v.metas.keys()]) : [], prefix, cursor, limit);
  }
}

function volumeTarget(v: MemoryVolume): ApplyTarget {
  const set = <K>(map: Map<K, Buffer>, key: K, bytes: Buffer): void => {
    v.bytes += bytes.length - (map.get(key)?.length ?? 0);
    map.set(key, bytes);
  };
  const del = <K>(map: Map<K, Buffer>, key: K): void => {
    v.bytes -= map.get(key)?.length ?? 0;
    map.delete(key);
  };
  const log = (name: string): Map<number, Buffer> => {
    let entries = v.logs.get(name);
    if (!entries) v.logs.set(name, (entries = new Map()));
    return entries;
  };
  return {
    putRetained: (key, bytes) => set(v.retained, key, bytes),
    deleteRetained: (key) => del(v.retained, key),
    putCidRetained: (cid, topic, bytes) => {
      let topics = v.cidRetained.get(cid);
      if (!topics) v.cidRetained.set(cid, (topics = new Map()));
      set(topics, topic, bytes);
    },
    deleteCidRetained: (cid, topic) => {
      const topics = v.cidRetained.get(cid);
      if (!topics) return;
      del(topics, topic);
      if (topics.size === 0) v.cidRetained.delete(cid);
    },
    dropCid: (cid) => {
      for (const bytes of v.cidRetained.get(cid)?.values() ?? []) v.bytes -= bytes.length;
      v.cidRetained.delete(cid);
    },
    putSession: (id, bytes) => set(v.sessions, id, bytes),
    deleteSession: (id) => del(v.sessions, id),
    putEntry: (name, offset, bytes) => set(log(name), offset, bytes),
    deleteEntry: (name, offset) => {
      const entries = v.logs.get(name);
      if (entries) del(entries, offset);
    },
    trim: (name, first) => {
      const entries = v.logs.get(name);
      if (entries) for (const offset of [...entries.keys()]) if (offset < first) del(entries, offset);
    },
    putMeta: (name, bytes) => set(v.metas, name, bytes),
    dropLog: (name) => {
      for (const bytes of v.logs.get(name)?.values() ?? []) v.bytes -= bytes.length;
      v.logs.delete(name);
      del(v.metas, name);
    },
  };
}
