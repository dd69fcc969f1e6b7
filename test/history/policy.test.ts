// `--history <pattern>=<count>[/<seconds>]`: what is accepted, what each error says, which channels a rule names.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HistoryPolicy, parseHistoryRule } from '../../src/history/policy.js';

describe('history policy', () => {
  it('reads counts, seconds and both', () => {
    assert.deepEqual(parseHistoryRule('chat/#=100').limits, { count: 100, maxAgeMs: 0 });
    assert.deepEqual(parseHistoryRule('sensor/+=0/3600').limits, { count: 0, maxAgeMs: 3_600_000 });
    assert.deepEqual(parseHistoryRule('a=10/60').limits, { count: 10, maxAgeMs: 60_000 });
    // The last "=" splits: a pattern may hold "=" escaped or not.
    assert.equal(parseHistoryRule('k=v=5').pattern.source, 'k=v');
  });

  it('names the flag and what is wrong', () => {
    assert.throws(() => parseHistoryRule('chat'), /--history "chat": expected <pattern>=<count>\[\/<seconds>\]/);
    assert.throws(() => parseHistoryRule('=5'), /expected <pattern>=/);
    assert.throws(() => parseHistoryRule('chat=x'), /the count must be a whole number, got "x"/);
    assert.throws(() => parseHistoryRule('chat=-1'), /the count must be a whole number/);
    assert.throws(() => parseHistoryRule('chat=0'), /give a count, seconds or both/);
    assert.throws(() => parseHistoryRule('chat=5/1/2'), /expected <count>\[\/<seconds>\]/);
    assert.throws(() => parseHistoryRule('chat=2000000'), /the count is at most 1000000/);
    assert.throws(() => parseHistoryRule('chat/{cid}=5'), /placeholders/);
    assert.throws(() => parseHistoryRule('@temp=5'), /placeholders/);
    assert.throws(() => parseHistoryRule('a\\=5'), /backslash at the end|expected/);
  });

  it('matches channel keys as the access rules do; the first matching rule wins', () => {
    const policy = HistoryPolicy.parse(['chat/vip=1000', 'chat/#=100', '#lab/+=10/60', 'D1@temp=5', '#=2']);
    assert.equal(policy.limitsFor('CH:chat/vip')?.count, 1000);
    assert.equal(policy.limitsFor('CH:chat/room/7')?.count, 100);
    assert.equal(policy.limitsFor('PRIVATE:#lab/bench')?.maxAgeMs, 60_000);
    assert.equal(policy.limitsFor('IP:08080404#lab/bench')?.count, 10);
    assert.equal(policy.limitsFor('CID:D1@temp')?.count, 5);
    assert.equal(policy.limitsFor('CH:news')?.count, 2, '# alone: every ordinary channel');
    assert.equal(policy.limitsFor('CID:D2@temp'), null, 'other devices are not named');
    assert.equal(policy.limitsFor('CH:$SYS/x'), null, 'a wildcard does not reach $ channels');
    assert.equal(HistoryPolicy.parse([]).limitsFor('CH:news'), null);
    assert.equal(HistoryPolicy.parse([]).enabled, false);
  });
});
