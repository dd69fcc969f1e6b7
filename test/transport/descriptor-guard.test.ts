// The descriptor guard's rule (issue 16 item 4) with a stand-in count: the uWS listeners pause when free
// descriptors fall to the margin, the spare descriptors are let go then, and the listeners come back only once
// the spares can be taken again with room to spare; a listener that cannot bind again is retried.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { DescriptorGuard, defaultFdReserve, descriptorCounter, type PausableListener } from '../../src/transport/descriptor-guard.js';

class FakeListener implements PausableListener {
  listening = true;
  failResume = false;
  pauses = 0;
  constructor(readonly name: string) {}
  pause(): void {
    this.listening = false;
    this.pauses++;
  }
  resume(): boolean {
    if (this.failResume) return false;
    this.listening = true;
    return true;
  }
}

function setup(limit: number, reserve: number) {
  const listener = new FakeListener('WebSocket port 1');
  const lines: string[] = [];
  let pauses = 0;
  // The stand-in count starts with the guard's own spares, as the real one would.
  const before = descriptorCounter()!.count();
  let others = 0;
  const guard = new DescriptorGuard({
    limit,
    reserve,
    listeners: [listener],
    log: (line) => lines.push(line),
    onPause: () => pauses++,
    count: () => others + (descriptorCounter()!.count() - before),
  });
  return { guard, listener, lines, setOthers: (n: number) => (others = n), pauses: () => pauses };
}

describe('descriptor guard', { skip: descriptorCounter() === null && 'no /proc/self/fd here (not Linux)' }, () => {
  it('reads the descriptor count without opening one (Linux ≥ 6.2) or from a listing', () => {
    const counter = descriptorCounter()!;
    const n = counter.count();
    assert.ok(n > 3 && n < 20_000, `count ${n}`);
    if (counter.cheap) assert.equal(n, statSync('/proc/self/fd').size);
  });

  it('defaults the reserve to 1/16 of the limit, 32 to 256', () => {
    assert.equal(defaultFdReserve(1024), 64);
    assert.equal(defaultFdReserve(20_000), 256);
    assert.equal(defaultFdReserve(256), 32);
    assert.equal(defaultFdReserve(null), 0);
  });

  it('pauses at the margin, lets the spares go, resumes only with room for them, and retries a failed bind', () => {
    const limit = 1000;
    const { guard, listener, lines, setOthers, pauses } = setup(limit, 64);
    try {
      assert.equal(guard.margin, 16);
      // The spares are held: 64 descriptors counted.
      setOthers(0);
      guard.check();
      assert.equal(listener.listening, true);
      setOthers(limit - 64 - 17); // 17 free: above the margin
      guard.check();
      assert.equal(listener.listening, true);
      setOthers(limit - 64 - 16); // 16 free: at the margin
      guard.check();
      assert.equal(listener.listening, false, 'paused at the margin');
      assert.equal(guard.paused, true);
      assert.equal(pauses(), 1);
      assert.match(lines.at(-1)!, /^descriptors: 984 of 1000 open;/);
      assert.match(lines.at(-1)!, /stopped accepting on WebSocket port 1 .*64 spare descriptors released/);
      // The spares are gone now: 80 free, but resuming needs reserve + 2 × margin = 96.
      guard.check();
      assert.equal(listener.listening, false, 'stays paused: taking the spares back would pause again');
      setOthers(limit - 64 - 32); // 96 free without the spares
      listener.failResume = true;
      guard.check();
      assert.equal(guard.paused, false);
      assert.equal(listener.listening, false, 'the bind failed');
      assert.match(lines.at(-1)!, /cannot listen on WebSocket port 1 again/);
      listener.failResume = false;
      guard.check();
      assert.equal(listener.listening, true, 'retried at the next check');
      assert.match(lines.at(-1)!, /accepting again on WebSocket port 1 after \d+ ms/);
      assert.equal(pauses(), 1);
    } finally {
      guard.stop();
    }
  });

  it('writes one pause line per 10 s however often it pauses, and says how many it left out', () => {
    const limit = 1000;
    const { guard, listener, lines, setOthers, pauses } = setup(limit, 32);
    try {
      for (let i = 0; i < 5; i++) {
        setOthers(limit - 32); // spares held: nothing free
        guard.check();
        assert.equal(listener.listening, false);
        setOthers(0);
        guard.check();
        assert.equal(listener.listening, true);
      }
      assert.equal(pauses(), 5);
      assert.equal(lines.filter((line) => /stopped accepting/.test(line)).length, 1);
      assert.equal(lines.filter((line) => /accepting again/.test(line)).length, 1, 'a resume is logged when its pause was');
    } finally {
      guard.stop();
    }
  });
});
