// One batch in the order batch.ts promises, onto an engine's primitive writes: the LMDB transaction, the memory
// maps and the Redis transaction all go through here, so they cannot disagree on what a batch means.
import type { Batch } from './batch.js';
import { encodeEntry, encodeMeta, encodeRetained } from './codec.js';

/** The primitive writes of an engine, called synchronously inside its transaction. */
export interface ApplyTarget {
  putRetained(key: string, bytes: Buffer): void;
  deleteRetained(key: string): void;
  putCidRetained(cid: string, topic: string, bytes: Buffer): void;
  deleteCidRetained(cid: string, topic: string): void;
  dropCid(cid: string): void;
  putSession(clientId: string, bytes: Buffer): void;
  deleteSession(clientId: string): void;
  putEntry(log: string, offset: number, bytes: Buffer): void;
  deleteEntry(log: string, offset: number): void;
  /** Deletes the entries below `first`. */
  trim(log: string, first: number): void;
  putMeta(log: string, bytes: Buffer): void;
  /** Entries and meta. */
  dropLog(log: string): void;
}

/** `withRetained` false: only sessions and logs (the LMDB store journals the retained part, journal.ts). */
export function applyBatch(batch: Batch, target: ApplyTarget, withRetained = true): void {
  if (withRetained) applyRetained(batch, target);
  applyRest(batch, target);
}

function applyRetained(batch: Batch, target: ApplyTarget): void {
  for (const cid of batch.cidDrops) target.dropCid(cid);
  for (const [key, value] of batch.retained) {
    if (value) target.putRetained(key, encodeRetained(value));
    else target.deleteRetained(key);
  }
  for (const [cid, topics] of batch.cidRetained) {
    for (const [topic, value] of topics) {
      if (value) target.putCidRetained(cid, topic, encodeRetained(value));
      else target.deleteCidRetained(cid, topic);
    }
  }
}

function applyRest(batch: Batch, target: ApplyTarget): void {
  for (const [id, encoded] of batch.sessions) {
    if (encoded) target.putSession(id, encoded);
    else target.deleteSession(id);
  }
  for (const [log, ops] of batch.logs) {
    if (ops.drop) target.dropLog(log);
    if (ops.trimTo > 0) target.trim(log, ops.trimTo);
    for (const offset of ops.removes) target.deleteEntry(log, offset);
    for (const entry of ops.puts.values()) target.putEntry(log, entry.offset, encodeEntry(entry));
    if (ops.meta) target.putMeta(log, encodeMeta(ops.meta));
  }
}
