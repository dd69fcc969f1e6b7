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

export function applyBatch(batch: Batch, target: ApplyTarget): void {
  for (const cid of batch.cidDrops) target.dropCid(cid);
  for (const op of batch.kv.values()) {
    if (op.table === 'retained') {
      if (op.value) target.putRetained(op.key, encodeRetained(op.value));
      else target.deleteRetained(op.key);
    } else if (op.table === 'cidRetained') {
      if (op.value) target.putCidRetained(op.key, op.topic, encodeRetained(op.value));
      else target.deleteCidRetained(op.key, op.topic);
    } else if (op.value) target.putSession(op.key, op.value);
    else target.deleteSession(op.key);
  }
  for (const [log, ops] of batch.logs) {
    if (ops.drop) target.dropLog(log);
    if (ops.trimTo > 0) target.trim(log, ops.trimTo);
    for (const offset of ops.removes) target.deleteEntry(log, offset);
    for (const entry of ops.puts.values()) target.putEntry(log, entry.offset, encodeEntry(entry));
    if (ops.meta) target.putMeta(log, encodeMeta(ops.meta));
  }
}
