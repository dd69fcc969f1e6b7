// The injected clock (src/clock.ts): the system clock's timers, the tests' manual clock, and the login throttle
// on the manual clock (its buckets refill only as time is advanced).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/clock.js';
import { DEFAULT_LOGIN_LIMITS, LoginGuard } from '../../src/guard/login-guard.js';
import { ManualClock } from '../kit/manual-clock.js';

describe('system clock', () => {
  it('runs a timer once, repeats an interval, and cancels both', async () => {
    const fired: string[] = [];
    const cancelled = systemClock.after(5, () => fired.push('cancelled'));
    cancelled.cancel();
    await new Promise<void>((resolve) => systemClock.after(10, () => resolve()));
    let ticks = 0;
    await new Promise<void>((resolve) => {
      const every = systemClock.every(2, () => {
        if (++ticks === 3) {
          every.cancel();
          resolve();
        }
      });
    });
    assert.deepEqual(fired, []);
    assert.equal(ticks, 3);
    assert.ok(Math.abs(systemClock.now() - Date.now()) < 50);
  });
});

describe('manual clock', () => {
  it('runs due timers in due order (ties in scheduling order), each at its own instant', () => {
    const clock = new ManualClock(1000);
    const seen: string[] = [];
    clock.after(30, () => seen.push(`b@${clock.now()}`));
    clock.after(10, () => seen.push(`a@${clock.now()}`));
    clock.after(30, () => seen.push(`c@${clock.now()}`));
    const every = clock.every(25, () => seen.push(`tick@${clock.now()}`));
    clock.advance(9);
    assert.deepEqual(seen, []);
    assert.equal(clock.now(), 1009);
    clock.advance(41);
    assert.deepEqual(seen, ['a@1010', 'tick@1025', 'b@1030', 'c@1030', 'tick@1050']);
    assert.equal(clock.pending, 1, 'only the interval is left');
    every.cancel();
    clock.advance(100);
    assert.equal(seen.length, 5);
    assert.equal(clock.pending, 0);
  });

  it('runs timers that callbacks set within the window, and not cancelled ones', () => {
    const clock = new ManualClock(0);
    const seen: number[] = [];
    const dropped = clock.after(5, () => seen.push(-1));
    clock.after(10, () => clock.after(10, () => seen.push(clock.now())));
    dropped.cancel();
    dropped.cancel();
    clock.advance(19);
    assert.deepEqual(seen, []);
    clock.advance(1);
    assert.deepEqual(seen, [20]);
  });
});

describe('login throttle on a manual clock', () => {
  it('an address gets its burst, then one attempt per 1/rate seconds; a good login gives its token back', () => {
    const clock = new ManualClock();
    const guard = new LoginGuard(DEFAULT_LOGIN_LIMITS, clock);
    const { addressBurst, addressRate } = DEFAULT_LOGIN_LIMITS;
    for (let i = 0; i < addressBurst; i++) {
      const ticket = guard.begin('192.0.2.1', `d${i}`);
      assert.equal(typeof ticket, 'object', `attempt ${i} of the burst`);
      if (typeof ticket === 'object') ticket.end(false);
    }
    assert.equal(guard.begin('192.0.2.1', 'dx'), 'throttled_address');
    clock.advance(1000 / addressRate - 1);
    assert.equal(guard.begin('192.0.2.1', 'dx'), 'throttled_address', 'not yet refilled');
    clock.advance(1);
    const ticket = guard.begin('192.0.2.1', 'dx');
    assert.equal(typeof ticket, 'object', 'one token after 1/rate s');
    if (typeof ticket === 'object') ticket.end(true);
    assert.equal(typeof guard.begin('192.0.2.1', 'dy'), 'object', 'the successful login gave its token back');
    assert.equal(typeof guard.begin('192.0.2.2', 'dz'), 'object', 'another address has its own bucket');
  });

  it('logs a throttled address at most once a second', () => {
    const clock = new ManualClock();
    const guard = new LoginGuard(DEFAULT_LOGIN_LIMITS, clock);
    guard.begin('192.0.2.9', 'd');
    assert.equal(guard.shouldLog('192.0.2.9'), true);
    clock.advance(999);
    assert.equal(guard.shouldLog('192.0.2.9'), false);
    clock.advance(1);
    assert.equal(guard.shouldLog('192.0.2.9'), true);
  });
});
