// Rate limits an operator sets (issue 18 item 4; README, Access control, "Rates"):
//   --conn-rate ws=100/s:200,cong=50/s,mqtt=20/s,all=300/s   new connections per listener (and all together)
//   --level-rate 3=100msg/s:200,64KiB/s --level-rate 0=10msg/s  messages and bytes a connection of a level sends
// The byte rate of a level defaults to the quota table's trafficRate (§8.1: bytes per second, one second's burst),
// so `--quota trafficRate` keeps its meaning; a level-rate line or an ACL `rate` line replaces it. The buckets
// are token-bucket.ts; this file parses the options and keeps the buckets.
import { TokenBucket } from './token-bucket.js';
import { QUOTA_TABLE } from '../protocol/codes.js';
import { isOff, parseRate, parseTrafficRates, RateError, type Rate, type TrafficRates } from './rate-spec.js';

/** The listeners `--conn-rate` names (`all`: every listener together). */
export const LISTENERS = ['ws', 'cong', 'mqtt', 'all'] as const;
/** One of LISTENERS. */
export type ListenerName = (typeof LISTENERS)[number];

/** New connections per second per listener (`--conn-rate`). */
export type ConnectionRates = Partial<Record<ListenerName, Rate>>;

/** `ws=100/s:200,cong=50/s` (a listener may be `off`); the same listener twice is an error. */
export function parseConnectionRates(text: string): ConnectionRates {
  const rates: ConnectionRates = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new RateError(`--conn-rate "${part}": expected <listener>=<rate>, e.g. ws=100/s:200 (listeners: ${LISTENERS.join(', ')})`);
    const name = part.slice(0, eq).trim();
    if (!(LISTENERS as readonly string[]).includes(name)) throw new RateError(`--conn-rate: unknown listener "${name}" (${LISTENERS.join(', ')})`);
    if (Object.hasOwn(rates, name)) throw new RateError(`--conn-rate: ${name} given twice`);
    const value = part.slice(eq + 1);
    if (isOff(value)) continue;
    const rate = parseRate(value);
    if (rate.unit !== 'count') throw new RateError(`--conn-rate ${name}: connections are counted, not bytes (${rate.text})`);
    rates[name as ListenerName] = rate;
  }
  return rates;
}

/**
 * New connections per listener: a bucket each, and `all` shared by every listener. A refused connection is closed
 * before anything is read from it (as the connection caps do) and counted per listener.
 */
export class ConnectionRateLimiter {
  private readonly buckets = new Map<ListenerName, TokenBucket>();
  readonly refused: Record<ListenerName, number> = { ws: 0, cong: 0, mqtt: 0, all: 0 };

  constructor(
    readonly rates: ConnectionRates,
    now: number,
  ) {
    for (const name of LISTENERS) {
      const rate = rates[name];
      if (rate) this.buckets.set(name, new TokenBucket(rate.perSecond, now, rate.burst));
    }
  }

  /** Whether a new connection on `listener` may be served now; a refusal counts against the listener. */
  admit(listener: Exclude<ListenerName, 'all'>, now: number): boolean {
    const own = this.buckets.get(listener);
    if (own && !own.take(1, now)) {
      this.refused[listener]++;
      return false;
    }
    const all = this.buckets.get('all');
    if (all && !all.take(1, now)) {
      own?.restore(1);
      this.refused.all++;
      return false;
    }
    return true;
  }
}

/** `3=100msg/s:200,64KiB/s` → the level and its rates; the level must be in the quota table. */
export function parseLevelRate(text: string): [number, TrafficRates] {
  const eq = text.indexOf('=');
  if (eq < 0) throw new RateError(`--level-rate "${text}": expected <level>=<rates>, e.g. 3=100msg/s:200,64KiB/s`);
  const levelText = text.slice(0, eq).trim();
  const level = Number(levelText);
  if (!/^\d{1,3}$/.test(levelText) || !Object.hasOwn(QUOTA_TABLE, level)) {
    throw new RateError(`--level-rate: "${levelText}" is not a level of the quota table (${Object.keys(QUOTA_TABLE).join(', ')})`);
  }
  return [level, parseTrafficRates(text.slice(eq + 1))];
}

/** Several `--level-rate` values (repeated, or `;`-separated in one) into a table; a level given twice is an error. */
export function parseLevelRates(values: readonly string[]): Map<number, TrafficRates> {
  const table = new Map<number, TrafficRates>();
  for (const value of values) {
    for (const part of value.split(';')) {
      if (part.trim() === '') continue;
      const [level, rates] = parseLevelRate(part);
      if (table.has(level)) throw new RateError(`--level-rate: level ${level} given twice`);
      table.set(level, rates);
    }
  }
  return table;
}

/** The quota table's byte rate of a level, as a Rate (one second's burst, as §8.2 always had). */
export function tableByteRate(level: number): Rate | null {
  const quota = QUOTA_TABLE[level];
  if (!quota) return null;
  return { perSecond: quota.trafficRate, burst: quota.trafficRate, unit: 'bytes', text: `${quota.trafficRate}B/s` };
}

/**
 * The rates one connection runs under: an ACL `rate` line for it wins, then its level's --level-rate, then the
 * quota table's byte rate (no message rate).
 */
export function ratesFor(level: number, levelRates: ReadonlyMap<number, TrafficRates>, fromRules: TrafficRates | null): TrafficRates {
  if (fromRules) return fromRules;
  return levelRates.get(level) ?? { messages: null, bytes: tableByteRate(level) };
}

/** What a message was over: nothing, its message rate or its byte rate. */
export type RateVerdict = 'ok' | 'messages' | 'bytes';

/** One connection's message and byte buckets; made afresh when its level (or the rules) change. */
export class SessionRate {
  private readonly messages: TokenBucket | null;
  private readonly bytes: TokenBucket | null;

  constructor(
    readonly rates: TrafficRates,
    now: number,
  ) {
    this.messages = rates.messages ? new TokenBucket(rates.messages.perSecond, now, rates.messages.burst) : null;
    this.bytes = rates.bytes ? new TokenBucket(rates.bytes.perSecond, now, rates.bytes.burst) : null;
  }

  /** Takes `count` messages of `size` bytes in all; what they are over, if anything (then nothing is taken). */
  admit(size: number, now: number, count = 1): RateVerdict {
    if (this.messages && !this.messages.take(count, now)) return 'messages';
    if (this.bytes && !this.bytes.take(size, now)) {
      this.messages?.restore(count);
      return 'bytes';
    }
    return 'ok';
  }
}
