// One batch of writes: what a turn (or, when the disk is behind, several turns) handed over, coalesced so a key
// written a thousand times in a turn is written once. A batch is applied in one transaction, in this order:
// whole-CID drops, keyed records, then per log: drop, trim, removals, entries, meta. The queueing rules below keep
// that order equivalent to the order the writes were made in. One Map per table, keyed by the record's own key:
// a retained publish costs one Map.set here, nothing else.
import type { LogEntry, LogMeta, RetainedValue } from './types.js';

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

/** What a keyed retained write costs against the pending bound. */
export function retainedBytes(key: string, value: RetainedValue | null): number {
  return OP_OVERHEAD + key.length + (value === null ? 0 : value.msg.length + (value.owner === null ? 0 : value.owner.length));
}

export class Batch {
  /** Channel-retained values by key (null: delete). */
  readonly retained = new Map<string, RetainedValue | null>();
  /** CID-retained values by CID, then topic (null: delete). */
  readonly cidRetained = new Map<string, Map<string, RetainedValue | null>>();
  /** CIDs whose every retained value goes, before the keyed records of this batch. */
  readonly cidDrops = new Set<string>();
  /** Encoded session records by client id (null: delete). */
  readonly sessions = new Map<string, Buffer | null>();
  readonly logs = new Map<string, LogOps>();
  /** Writes handed over (each put, delete, trim…), before coalescing: the write rate. */
  writes = 0;
  bytes = 0;
  /** When its first write was handed over (ms); 0 while empty. */
  startedAt = 0;

  get empty(): boolean {
    return this.retained.size === 0 && this.cidRetained.size === 0 && this.cidDrops.size === 0 && this.sessions.size === 0 && this.logs.size === 0;
  }

  private touch(now: number, bytes: number): void {
    if (this.startedAt === 0) this.startedAt = now;
    this.writes++;
    this.bytes += bytes;
  }

  setRetained(key: string, value: RetainedValue | null, now: number): void {
    const old = this.retained.get(key);
    if (old !== undefined) this.bytes -= retainedBytes(key, old);
    this.retained.set(key, value);
    this.touch(now, retainedBytes(key, value));
  }

  setCidRetained(cid: string, topic: string, value: RetainedValue | null, now: number): void {
    let topics = this.cidRetained.get(cid);
    if (!topics) this.cidRetained.set(cid, (topics = new Map()));
    const old = topics.get(topic);
    if (old !== undefined) this.bytes -= retainedBytes(cid + topic, old);
    topics.set(topic, value);
    this.touch(now, retainedBytes(cid + topic, value));
  }

  setSession(clientId: string, encoded: Buffer | null, now: number): void {
    const old = this.sessions.get(clientId);
    if (old !== undefined) this.bytes -= OP_OVERHEAD + clientId.length + (old?.length ?? 0);
    this.sessions.set(clientId, encoded);
    this.touch(now, OP_OVERHEAD + clientId.length + (encoded?.length ?? 0));
  }

  dropCid(cid: string, now: number): void {
    const topics = this.cidRetained.get(cid);
    if (topics) {
      for (const [topic, value] of topics) this.bytes -= retainedBytes(cid + topic, value);
      this.cidRetained.delete(cid);
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
    for (const [key, value] of newer.retained) this.setRetained(key, value, now);
    for (const [cid, topics] of newer.cidRetained) for (const [topic, value] of topics) this.setCidRetained(cid, topic, value, now);
    for (const [id, encoded] of newer.sessions) this.setSession(id, encoded, now);
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
