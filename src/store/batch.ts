// One batch of writes: what a turn (or, when the disk is behind, several turns) handed over, coalesced so a key
// written a thousand times in a turn is written once. A batch is applied in one transaction, in this order:
// whole-CID drops, keyed records, then per log: drop, trim, removals, entries, meta. The queueing rules below keep
// that order equivalent to the order the writes were made in.
import type { LogEntry, LogMeta, RetainedValue } from './types.js';

export type KvOp =
  | { readonly table: 'retained'; readonly key: string; readonly value: RetainedValue | null }
  | { readonly table: 'cidRetained'; readonly key: string; readonly topic: string; readonly value: RetainedValue | null }
  /** A session's record, already encoded (sessions change rarely; encoding at hand-over gives its exact size). */
  | { readonly table: 'sessions'; readonly key: string; readonly value: Buffer | null };

export interface LogOps {
  /** Entries and meta go first. */
  drop: boolean;
  /** Entries below it go (0: none). */
  trimTo: number;
  readonly removes: Set<number>;
  readonly puts: Map<number, LogEntry>;
  meta: LogMeta | null;
}

/** Bytes counted per operation besides its data: keys, the op itself, the engine's own overhead. */
export const OP_OVERHEAD = 64;

/** A name per keyed record that cannot collide across tables or between (cid, topic) pairs. */
export function kvName(op: Pick<KvOp, 'table' | 'key'> & { topic?: string }): string {
  if (op.table === 'retained') return `r\u0000${op.key}`;
  if (op.table === 'sessions') return `s\u0000${op.key}`;
  return `c\u0000${op.key.length}:${op.key}${op.topic ?? ''}`;
}

function kvBytes(op: KvOp): number {
  const value = op.value;
  const data = value === null ? 0 : Buffer.isBuffer(value) ? value.length : value.msg.length + (value.owner?.length ?? 0);
  return OP_OVERHEAD + op.key.length + (op.table === 'cidRetained' ? op.topic.length : 0) + data;
}

export class Batch {
  readonly kv = new Map<string, KvOp>();
  /** CIDs whose every retained value goes, before the keyed records of this batch. */
  readonly cidDrops = new Set<string>();
  readonly logs = new Map<string, LogOps>();
  /** kvName of cidRetained records in `kv`, per CID (so a drop can discard them). */
  private readonly cidNames = new Map<string, Set<string>>();
  private readonly sizes = new Map<string, number>();
  /** Writes handed over (each put, delete, trim…), before coalescing: the write rate. */
  writes = 0;
  bytes = 0;
  /** When its first write was handed over (ms); 0 while empty. */
  startedAt = 0;

  get empty(): boolean {
    return this.kv.size === 0 && this.cidDrops.size === 0 && this.logs.size === 0;
  }

  private touch(now: number, bytes: number): void {
    if (this.startedAt === 0) this.startedAt = now;
    this.writes++;
    this.bytes += bytes;
  }

  setKv(op: KvOp, now: number): void {
    const name = kvName(op);
    const size = kvBytes(op);
    this.bytes -= this.sizes.get(name) ?? 0;
    this.sizes.set(name, size);
    this.kv.set(name, op);
    if (op.table === 'cidRetained') {
      let names = this.cidNames.get(op.key);
      if (!names) this.cidNames.set(op.key, (names = new Set()));
      names.add(name);
    }
    this.touch(now, size);
  }

  dropCid(cid: string, now: number): void {
    const names = this.cidNames.get(cid);
    if (names) {
      for (const name of names) {
        this.kv.delete(name);
        this.bytes -= this.sizes.get(name) ?? 0;
        this.sizes.delete(name);
      }
      this.cidNames.delete(cid);
    }
    this.cidDrops.add(cid);
    this.touch(now, OP_OVERHEAD + cid.length);
  }

  private logOps(log: string): LogOps {
    let ops = this.logs.get(log);
    if (!ops) this.logs.set(log, (ops = { drop: false, trimTo: 0, removes: new Set(), puts: new Map(), meta: null }));
    return ops;
  }

  private discardPut(ops: LogOps, offset: number): void {
    const entry = ops.puts.get(offset);
    if (!entry) return;
    ops.puts.delete(offset);
    this.bytes -= OP_OVERHEAD + entry.data.length;
  }

  putLogEntry(log: string, entry: LogEntry, now: number): void {
    const ops = this.logOps(log);
    if (entry.offset < ops.trimTo) return; // trimmed in this very batch: it would be deleted again
    this.discardPut(ops, entry.offset);
    ops.removes.delete(entry.offset);
    ops.puts.set(entry.offset, entry);
    this.touch(now, OP_OVERHEAD + entry.data.length);
  }

  removeLogEntry(log: string, offset: number, now: number): void {
    const ops = this.logOps(log);
    this.discardPut(ops, offset);
    if (offset >= ops.trimTo) ops.removes.add(offset);
    this.touch(now, OP_OVERHEAD);
  }

  trimLog(log: string, first: number, now: number): void {
    const ops = this.logOps(log);
    if (first <= ops.trimTo) return;
    ops.trimTo = first;
    for (const offset of [...ops.puts.keys()]) if (offset < first) this.discardPut(ops, offset);
    for (const offset of [...ops.removes]) if (offset < first) ops.removes.delete(offset);
    this.touch(now, OP_OVERHEAD);
  }

  /** `meta` is kept as given: hand over a fresh object (a meta written later must not change this one). */
  putLogMeta(log: string, meta: LogMeta, now: number): void {
    this.logOps(log).meta = meta;
    this.touch(now, OP_OVERHEAD + log.length);
  }

  dropLog(log: string, now: number): void {
    const old = this.logs.get(log);
    if (old) for (const offset of [...old.puts.keys()]) this.discardPut(old, offset);
    this.logs.set(log, { drop: true, trimTo: 0, removes: new Set(), puts: new Map(), meta: null });
    this.touch(now, OP_OVERHEAD + log.length);
  }

  /** Replays `newer`'s operations on top of this (older) batch: used when a commit failed and is retried. */
  absorb(newer: Batch): void {
    const now = newer.startedAt || Date.now();
    const writes = this.writes + newer.writes;
    for (const cid of newer.cidDrops) this.dropCid(cid, now);
    for (const op of newer.kv.values()) this.setKv(op, now);
    for (const [log, ops] of newer.logs) {
      if (ops.drop) this.dropLog(log, now);
      if (ops.trimTo > 0) this.trimLog(log, ops.trimTo, now);
      for (const offset of ops.removes) this.removeLogEntry(log, offset, now);
      for (const entry of ops.puts.values()) this.putLogEntry(log, entry, now);
      if (ops.meta) this.putLogMeta(log, ops.meta, now);
    }
    this.writes = writes;
    if (newer.startedAt > 0 && (this.startedAt === 0 || newer.startedAt < this.startedAt)) this.startedAt = newer.startedAt;
  }
}
