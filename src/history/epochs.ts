// When a position can be recovered (docs/durability.md, "Channel history"). One function, used by the in-memory
// history (one node: LMDB or no store) and by the Redis history (a cluster), so both refuse the same requests.
//
// A position is (epoch, offset): "I have every signal of this channel up to `offset`, as numbered in `epoch`".
// Readers that hold positions only ever see durable entries (positioned deliveries wait for the store), so a
// restart — clean or not — never takes back an offset a reader holds, and the epoch stays. It changes only when
// the history itself is lost: the store was emptied or moved aside, an admin cleared the channel, the byte bound
// forgot an idle channel, or a Redis stream expired or was lost with its Redis.
import type { LogMeta } from '../store/types.js';

export type Refusal =
  /** The epoch is not this channel's (its history was lost since). */
  | 'epoch'
  /** Part of what was missed is no longer kept (older than the count, age or byte bound). */
  | 'too-old'
  /** The offset is ahead of anything durable in that epoch (not a position this broker gave). */
  | 'ahead';

export type Verdict = { ok: true; from: number } | { ok: false; reason: Refusal };

/**
 * Whether (epoch, offset) can be recovered from a log whose durable part is described by `meta`; `from` is the
 * first offset to send (offset + 1, which is above `meta.top` when nothing was missed).
 */
export function judgePosition(meta: Pick<LogMeta, 'epoch' | 'top' | 'first'>, epoch: string, offset: number): Verdict {
  if (epoch !== meta.epoch) return { ok: false, reason: 'epoch' };
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > meta.top) return { ok: false, reason: 'ahead' };
  if (offset + 1 < meta.first) return { ok: false, reason: 'too-old' };
  return { ok: true, from: offset + 1 };
}
