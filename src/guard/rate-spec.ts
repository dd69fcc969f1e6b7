// The one way an operator writes a rate (README, Access control, "Rates"): `<amount>[<unit>]/<period>[:<burst>[<unit>]]`.
//   100/s         100 a second (connections), burst one second's worth
//   100msg/s:200  100 messages a second, bursts of up to 200
//   64KiB/s:256KiB, 1MB/s, 600msg/min, 0.5msg/s
// Used by --conn-rate, --level-rate and the `rate` lines of an ACL. Pure parsing; the buckets are token-bucket.ts.

/** What a rate counts: messages or connections (`count`), or bytes. */
export type RateUnit = 'count' | 'bytes';

/** One rate: tokens a second and the largest burst. */
export interface Rate {
  /** Tokens added per second (messages, connections or bytes). */
  readonly perSecond: number;
  /** Most tokens held at once (the largest burst). */
  readonly burst: number;
  readonly unit: RateUnit;
  /** As written (for messages and -o). */
  readonly text: string;
}

/** A rate that cannot be read (the message says why). */
export class RateError extends Error {}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1000,
  KiB: 1024,
  MB: 1000 ** 2,
  MiB: 1024 ** 2,
  GB: 1000 ** 3,
  GiB: 1024 ** 3,
};
const PERIODS: Readonly<Record<string, number>> = { s: 1, sec: 1, min: 60, h: 3600 };
const TERM = /^(\d+(?:\.\d+)?)([A-Za-z]*)\/([a-z]+)(?::(\d+(?:\.\d+)?)([A-Za-z]*))?$/;
/** Beyond this a rate is surely a typo (and float arithmetic in the buckets stays exact enough). */
const MAX_PER_SECOND = 1e12;

function unitOf(word: string, term: string): { unit: RateUnit; scale: number } {
  if (word === '' || word === 'msg' || word === 'msgs') return { unit: 'count', scale: 1 };
  const scale = BYTE_UNITS[word];
  if (scale === undefined) throw new RateError(`${term}: unknown unit "${word}" (msg, B, KB, KiB, MB, MiB, GB, GiB)`);
  return { unit: 'bytes', scale };
}

/** One rate term. */
export function parseRate(text: string): Rate {
  const term = text.trim();
  const match = TERM.exec(term);
  if (!match) throw new RateError(`"${term}": expected <amount>[unit]/<s|min|h>[:<burst>[unit]], e.g. 100msg/s:200 or 64KiB/s`);
  const [, amountText, unitWord, periodWord, burstText, burstUnitWord] = match as unknown as [string, string, string, string, string?, string?];
  const { unit, scale } = unitOf(unitWord, term);
  const period = PERIODS[periodWord];
  if (period === undefined) throw new RateError(`${term}: unknown period "/${periodWord}" (/s, /min, /h)`);
  const perSecond = (Number(amountText) * scale) / period;
  if (!(perSecond > 0)) throw new RateError(`${term}: a rate must be above 0 (write off to lift a limit)`);
  if (perSecond > MAX_PER_SECOND) throw new RateError(`${term}: over ${MAX_PER_SECOND} a second`);
  let burst: number;
  if (burstText === undefined) {
    // One second's worth, as the traffic-rate quota always had; at least one whole message or connection.
    burst = unit === 'count' ? Math.max(1, perSecond) : perSecond;
  } else {
    const burstUnit = unitOf(burstUnitWord || (unit === 'count' ? '' : unitWord), term);
    if (burstUnit.unit !== unit) throw new RateError(`${term}: the burst must count what the rate counts`);
    burst = Number(burstText) * burstUnit.scale;
    if (!(burst > 0)) throw new RateError(`${term}: the burst must be above 0`);
    if (unit === 'count' && burst < 1) throw new RateError(`${term}: a burst of less than one can never pass`);
  }
  return { perSecond, burst, unit, text: term };
}

/** Words that lift a limit where one would otherwise apply. */
export const isOff = (text: string): boolean => ['off', 'none', 'unlimited'].includes(text.trim());

/** A message rate and a byte rate for one connection; either may be absent (no limit). */
export interface TrafficRates {
  readonly messages: Rate | null;
  readonly bytes: Rate | null;
}

/** `100msg/s:200,64KiB/s` (either or both, any order) or `off` (neither). */
export function parseTrafficRates(text: string): TrafficRates {
  if (isOff(text)) return { messages: null, bytes: null };
  let messages: Rate | null = null;
  let bytes: Rate | null = null;
  for (const part of text.split(',')) {
    const rate = parseRate(part);
    if (rate.unit === 'count') {
      if (messages) throw new RateError(`"${text}": two message rates`);
      messages = rate;
    } else {
      if (bytes) throw new RateError(`"${text}": two byte rates`);
      bytes = rate;
    }
  }
  return { messages, bytes };
}
