// Channel history in a cluster: one numbering per channel whichever node publishes, kept in Redis streams
// (docs/durability.md §9). Each append is one Lua script, atomic in Redis: it reads the channel's meta (a new epoch
// when there is none — the history expired or was never there — or when the Redis that wrote it has restarted since
// and may have lost its tail), adds the entry as stream id `<offset>-0` (XADD with MAXLEN for the count bound),
// drops entries past the age bound from the head (XTRIM MINID, a bounded number per append) and makes stream and
// meta expire with the age bound, so an idle channel's history goes with its epoch. It answers [epoch, offset].
// Appends of one turn travel in one pipeline, in order. Reads are XRANGE; the rules of refusal are epochs.ts's.
//
// The layout is the Redis store's (src/store/redis-store.ts): stream `<p>:log:h:<channel key>`, entry field `e`
// (codec.ts's entry bytes), plus a field `t` (the time, for the script's age bound); meta `<p>:logm:h:<channel key>`
// as a msgpack map {e, t, f} plus `r`, the run id of the Redis that wrote it.
import type { Cluster, Redis } from 'ioredis';
import { decodeEntry, decodeMeta, encodeEntry } from '../store/codec.js';
import { historyLog, type LogMeta } from '../store/types.js';
import { DEFAULT_READ_LIMIT, randomEpoch, type HistoryEntry, type Position, type Recovery } from './channel-history.js';
import { judgePosition } from './epochs.js';
import type { HistoryPolicy } from './policy.js';

type RedisClient = Redis | Cluster;

/** Entries older than the age bound dropped by one append at most (the next appends drop the rest; reads check ages). */
const AGE_TRIM_PER_APPEND = 64;
/** With no count bound, a stream keeps at most this many entries. */
export const REDIS_HISTORY_MAX_ENTRIES = 1_000_000;

// KEYS: stream, meta. ARGV: entry, now (ms), count (0: none), maxAge (ms, 0: none), new epoch, age trim per call.
const APPEND = `
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
local now, count, maxAge = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local epoch, top = ARGV[5], 0
local raw = redis.call('GET', KEYS[2])
if raw then
  local m = cmsgpack.unpack(raw)
  top = m.t
  if m.r == run then epoch = m.e else redis.call('DEL', KEYS[1]) end
else
  redis.call('DEL', KEYS[1])
end
top = top + 1
redis.call('XADD', KEYS[1], 'MAXLEN', count, top .. '-0', 'e', ARGV[1], 't', now)
if maxAge > 0 then
  local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[6]))
  local keep = nil
  for _, e in ipairs(head) do
    local t = tonumber(e[2][4])
    if t > now - maxAge then keep = e[1] break end
  end
  if keep == nil and #head > 0 then keep = (tonumber(string.match(head[#head][1], '^(%d+)')) + 1) .. '-0' end
  if keep ~= nil then redis.call('XTRIM', KEYS[1], 'MINID', keep) end
end
local first = top + 1
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #oldest > 0 then first = tonumber(string.match(oldest[1][1], '^(%d+)')) end
redis.call('SET', KEYS[2], cmsgpack.pack({e = epoch, t = top, f = first, r = run}))
if maxAge > 0 then
  redis.call('PEXPIRE', KEYS[1], maxAge)
  redis.call('PEXPIRE', KEYS[2], maxAge)
end
return {epoch, top}
`;

export interface RedisHistoryOptions {
  redis: RedisClient;
  /** The cluster prefix. */
  prefix?: string;
  policy: HistoryPolicy;
  now?: () => number;
  newEpoch?: () => string;
}

interface Pending {
  key: string;
  entry: Buffer;
  now: number;
  count: number;
  maxAgeMs: number;
  resolve(position: Position): void;
  reject(err: Error): void;
}

export class RedisHistory {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly newEpoch: () => string;
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly options: RedisHistoryOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix ?? 'iosig';
    this.now = options.now ?? Date.now;
    this.newEpoch = options.newEpoch ?? randomEpoch;
  }

  private streamKey(key: string): string {
    return `${this.prefix}:log:${historyLog(key)}`;
  }

  private metaKey(key: string): string {
    return `${this.prefix}:logm:${historyLog(key)}`;
  }

  /**
   * Appends a signal published on channel `key`; resolves with its position once Redis holds it (durable with
   * `appendfsync always`), null at once when the channel keeps no history. Plain deliveries do not wait for it.
   */
  append(key: string, msg: Buffer): Promise<Position> | null {
    const limits = this.options.policy.limitsFor(key);
    if (!limits) return null;
    const now = this.now();
    const count = limits.count > 0 ? limits.count : REDIS_HISTORY_MAX_ENTRIES;
    return new Promise((resolve, reject) => {
      this.queue.push({ key, entry: encodeEntry({ offset: 0, time: now, data: msg }), now, count, maxAgeMs: limits.maxAgeMs, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.send());
      }
    });
  }

  /** One pipeline per turn, in order: Redis numbers the appends of one node in the order they were made. */
  private send(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    const pipeline = this.redis.pipeline();
    for (const p of batch) pipeline.eval(APPEND, 2, this.streamKey(p.key), this.metaKey(p.key), p.entry, p.now, p.count, p.maxAgeMs, this.newEpoch(), AGE_TRIM_PER_APPEND);
    pipeline.exec().then(
      (results) => {
        batch.forEach((p, i) => {
          const [err, reply] = results?.[i] ?? [new Error('the pipeline was discarded'), null];
          if (err) p.reject(err);
          else {
            const [epoch, offset] = reply as [string, number];
            p.resolve({ epoch, offset: Number(offset) });
          }
        });
      },
      (err: Error) => {
        for (const p of batch) p.reject(err);
      },
    );
  }

  private async meta(key: string): Promise<LogMeta | undefined> {
    const raw = await this.redis.getBuffer(this.metaKey(key));
    return raw ? decodeMeta(raw, historyLog(key)) : undefined;
  }

  /** The channel's position (its last offset), null when it has none (no history, or it expired). */
  async position(key: string): Promise<Position | null> {
    const meta = await this.meta(key);
    return meta && meta.top > 0 ? { epoch: meta.epoch, offset: meta.top } : null;
  }

  /** "Since offset `offset` in epoch `epoch`", as ChannelHistory.since answers it. */
  async since(key: string, epoch: string, offset: number, limit = DEFAULT_READ_LIMIT): Promise<Recovery> {
    const limits = this.options.policy.limitsFor(key);
    const meta = await this.meta(key);
    if (!meta || meta.top === 0) return { ok: false, reason: limits ? 'epoch' : 'no-history', position: null };
    const position = { epoch: meta.epoch, offset: meta.top };
    const verdict = judgePosition(meta, epoch, offset);
    if (!verdict.ok) return { ok: false, reason: verdict.reason, position };
    if (verdict.from > meta.top) return { ok: true, epoch: meta.epoch, entries: [], more: false, position };
    const count = Math.max(1, Math.min(limit, meta.top - verdict.from + 1));
    const rows = (await this.redis.xrangeBuffer(this.streamKey(key), `${verdict.from}-0`, `${meta.top}-0`, 'COUNT', count)) as Array<[Buffer, Buffer[]]>;
    const entries: HistoryEntry[] = [];
    const oldestKept = this.now() - (limits?.maxAgeMs ?? 0);
    for (const [id, fields] of rows) {
      const o = Number(id.toString().split('-')[0]);
      const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === 'e');
      if (at < 0) throw new Error(`history ${key}: entry ${o} has no field "e"`);
      const e = decodeEntry(fields[at + 1]!, o, historyLog(key));
      // Trimmed since the meta was read, or past the age bound but not dropped yet: what was missed is not all here.
      if (o !== verdict.from + entries.length || (limits && limits.maxAgeMs > 0 && e.time <= oldestKept)) return { ok: false, reason: 'too-old', position };
      entries.push({ offset: o, time: e.time, msg: e.data });
    }
    if (entries.length === 0) return { ok: false, reason: 'too-old', position };
    const last = entries[entries.length - 1]!.offset;
    return { ok: true, epoch: meta.epoch, entries, more: last < meta.top, position };
  }
}
