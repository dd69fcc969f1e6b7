// Issue 18 item 4: the rates an operator writes (--conn-rate, --level-rate, ACL rate lines) and the buckets they
// make: new connections per listener with a burst (and all listeners together), messages and bytes per
// connection, with the quota table's byte rate as the default.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRate, parseTrafficRates, RateError } from '../../src/guard/rate-spec.js';
import {
  ConnectionRateLimiter,
  parseConnectionRates,
  parseLevelRates,
  ratesFor,
  SessionRate,
  tableByteRate,
} from '../../src/guard/rate-limits.js';

describe('rate syntax', () => {
  it('reads amounts, units, periods and bursts', () => {
    assert.deepEqual(parseRate('100/s'), { perSecond: 100, burst: 100, unit: 'count', text: '100/s' });
    assert.deepEqual(parseRate('100msg/s:200'), { perSecond: 100, burst: 200, unit: 'count', text: '100msg/s:200' });
    assert.equal(parseRate('64KiB/s').perSecond, 65_536);
    assert.equal(parseRate('64KiB/s').burst, 65_536, 'one second of bytes by default');
    assert.equal(parseRate('64KiB/s:1MiB').burst, 1024 * 1024);
    assert.equal(parseRate('64KiB/s:100000').burst, 100_000 * 1024, 'a bare burst is in the unit of the rate');
    assert.equal(parseRate('1MB/s').perSecond, 1_000_000);
    assert.equal(parseRate('600msg/min').perSecond, 10);
    assert.equal(parseRate('0.5msg/s').burst, 1, 'a burst of at least one message');
    assert.equal(parseRate('3600/h').perSecond, 1);
  });

  it('refuses what it cannot read, with the reason', () => {
    const bad: [string, RegExp][] = [
      ['100', /expected <amount>/],
      ['100msg/x', /unknown period/],
      ['100bits/s', /unknown unit "bits"/],
      ['0/s', /above 0/],
      ['10msg/s:5KiB', /the burst must count what the rate counts/],
      ['10msg/s:0.5', /less than one/],
      ['1e3/s', /expected/],
    ];
    for (const [text, reason] of bad) assert.throws(() => parseRate(text), (err: unknown) => err instanceof RateError && reason.test(err.message), text);
    assert.throws(() => parseTrafficRates('10msg/s,20msg/s'), /two message rates/);
    assert.throws(() => parseTrafficRates('1KiB/s,2KiB/s'), /two byte rates/);
    assert.deepEqual(parseTrafficRates('off'), { messages: null, bytes: null });
  });
});

describe('connection rate per listener', () => {
  it('parses listeners and refuses unknown or repeated ones', () => {
    const rates = parseConnectionRates('ws=100/s:200,cong=50/s,mqtt=off');
    assert.equal(rates.ws!.burst, 200);
    assert.equal(rates.cong!.perSecond, 50);
    assert.equal(rates.mqtt, undefined);
    assert.throws(() => parseConnectionRates('http=1/s'), /unknown listener "http"/);
    assert.throws(() => parseConnectionRates('ws=1/s,ws=2/s'), /ws given twice/);
    assert.throws(() => parseConnectionRates('ws=1KiB/s'), /connections are counted/);
    assert.throws(() => parseConnectionRates('ws'), /expected <listener>=<rate>/);
  });

  it('lets a burst in, then the rate, per listener and for all together', () => {
    const limiter = new ConnectionRateLimiter(parseConnectionRates('ws=10/s:5,all=100/s:6'), 0);
    const admitted = (listener: 'ws' | 'cong', n: number, now: number): number => {
      let count = 0;
      for (let i = 0; i < n; i++) if (limiter.admit(listener, now)) count++;
      return count;
    };
    assert.equal(admitted('ws', 20, 0), 5, 'the ws burst');
    assert.equal(limiter.refused.ws, 15);
    assert.equal(admitted('cong', 5, 0), 1, 'cong has no bucket of its own but shares all (6 − 5 taken)');
    assert.equal(limiter.refused.all, 4);
    assert.equal(admitted('ws', 20, 500), 5, 'half a second later: 5 more ws tokens (10/s)');
    const open = new ConnectionRateLimiter({}, 0);
    for (let i = 0; i < 1000; i++) assert.ok(open.admit('ws', 0), 'no rate: every connection');
  });
});

describe('message and byte rates per level', () => {
  it('parses --level-rate values, repeated or ;-separated', () => {
    const table = parseLevelRates(['3=100msg/s:200,64KiB/s', '0=10msg/s;12=off']);
    assert.equal(table.get(3)!.messages!.burst, 200);
    assert.equal(table.get(3)!.bytes!.perSecond, 65_536);
    assert.equal(table.get(0)!.bytes, null);
    assert.deepEqual(table.get(12), { messages: null, bytes: null });
    assert.throws(() => parseLevelRates(['7=1msg/s']), /"7" is not a level of the quota table/);
    assert.throws(() => parseLevelRates(['3=1msg/s', '3=2msg/s']), /level 3 given twice/);
    assert.throws(() => parseLevelRates(['3']), /expected <level>=<rates>/);
  });

  it('falls back to the quota table byte rate, and lets a rate rule win over the level', () => {
    const table = parseLevelRates(['3=100msg/s']);
    assert.deepEqual(ratesFor(2, table, null), { messages: null, bytes: tableByteRate(2) });
    assert.equal(ratesFor(2, table, null).bytes!.perSecond, 1_048_576);
    assert.equal(ratesFor(3, table, null).messages!.perSecond, 100);
    const rule = parseTrafficRates('5msg/s');
    assert.equal(ratesFor(3, table, rule), rule);
  });

  it('meters a connection: a message over either rate is refused and takes nothing', () => {
    const meter = new SessionRate(parseTrafficRates('10msg/s:3,1KiB/s:2KiB'), 0);
    assert.equal(meter.admit(1000, 0), 'ok');
    assert.equal(meter.admit(1000, 0), 'ok');
    assert.equal(meter.admit(100, 0), 'bytes', '2000 of 2048 bytes used');
    assert.equal(meter.admit(10, 0), 'ok', 'the refused message took no message token');
    assert.equal(meter.admit(10, 0), 'messages', 'the burst of 3 messages is spent');
    assert.equal(meter.admit(10, 100), 'ok', 'a tenth of a second later: one more message');
    const unlimited = new SessionRate({ messages: null, bytes: null }, 0);
    assert.equal(unlimited.admit(1e9, 0), 'ok');
  });
});
