// Issue 18: the pattern language of the access rules — kinds, wildcards, placeholders bound as literal text,
// escapes, the `$` rule, and the filter relations the SUBACK-style answer is built on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bindLevels,
  callKey,
  channelFilter,
  cidFilter,
  levelsCover,
  levelsIntersect,
  objectOfKey,
  parseChannelPattern,
  parseServicePattern,
  patternMatches,
  PatternError,
  sendKey,
  type AccessObject,
  type Binding,
  type Pattern,
} from '../../src/access/pattern.js';

const DEV: Binding = { cid: 'C1', did: 'dev1' };
const obj = (key: string): AccessObject => {
  const o = objectOfKey(key);
  assert.ok(o, `a known key form: ${key}`);
  return o;
};
const allows = (pattern: string, key: string, binding = DEV): boolean => patternMatches(parseChannelPattern(pattern), obj(key), binding, false);
const denies = (pattern: string, key: string, binding = DEV): boolean => patternMatches(parseChannelPattern(pattern), obj(key), binding, true);

describe('access patterns', () => {
  it('reads every router key form and the call and send keys as kinds and levels', () => {
    assert.deepEqual(objectOfKey('CH:a/b/c'), { kind: 'channel', levels: ['a', 'b', 'c'] });
    assert.deepEqual(objectOfKey('CH:'), { kind: 'channel', levels: [''] });
    assert.deepEqual(objectOfKey('CID:D1@temp/x'), { kind: 'cid', levels: ['D1', 'temp', 'x'] });
    assert.deepEqual(objectOfKey('CID:D1@a@b'), { kind: 'cid', levels: ['D1', 'a@b'] });
    assert.deepEqual(objectOfKey('CID:@state'), { kind: 'cid', levels: ['', 'state'] });
    assert.deepEqual(objectOfKey('PRIVATE:#lab/x'), { kind: 'home', levels: ['lab', 'x'] });
    assert.deepEqual(objectOfKey('IP:cb007107#lab'), { kind: 'home', levels: ['lab'] });
    assert.deepEqual(objectOfKey(`IP:${'0'.repeat(31)}1#t`), { kind: 'home', levels: ['t'] });
    assert.deepEqual(objectOfKey(callKey('sudo', 'cid')), { kind: 'service', levels: ['sudo', 'cid'] });
    assert.equal(sendKey('D1', 'cmd'), 'CID:D1@cmd');
    assert.equal(objectOfKey('WHAT:x'), null);
    assert.equal(objectOfKey('CID:noat'), null);
  });

  it('matches MQTT-style: + is one level, # the rest (the parent level included)', () => {
    assert.ok(allows('sensors/+/temp', 'CH:sensors/a/temp'));
    assert.ok(!allows('sensors/+/temp', 'CH:sensors/a/b/temp'));
    assert.ok(!allows('sensors/+/temp', 'CH:sensors/temp'));
    assert.ok(allows('sensors/#', 'CH:sensors'));
    assert.ok(allows('sensors/#', 'CH:sensors/a/b'));
    assert.ok(!allows('sensors/#', 'CH:sensorsx/a'));
    assert.ok(allows('#', 'CH:anything/at/all'));
    assert.ok(allows('#', 'CH:'), 'the empty tag is a channel too');
    assert.ok(!allows('news', 'CH:news/x'));
    assert.ok(allows('a//b', 'CH:a//b'), 'empty levels are levels');
  });

  it('keeps kinds apart: channels, home channels, CID-addressed signals', () => {
    assert.ok(!allows('#', 'CID:D1@x'), '# is every ordinary channel, not CID signals');
    assert.ok(!allows('#', 'PRIVATE:#lab'));
    assert.ok(allows('##', 'PRIVATE:#lab'), '## is every home channel');
    assert.ok(allows('#lab', 'IP:cb007107#lab'), 'a home pattern names the topic, whatever the home');
    assert.ok(allows('#lab/+', 'PRIVATE:#lab/x'));
    assert.ok(!allows('#lab', 'CH:lab'));
    assert.ok(allows('+@#', 'CID:D1@a/b'));
    assert.ok(allows('D1@temp', 'CID:D1@temp'));
    assert.ok(!allows('D1@temp', 'CID:D2@temp'));
    assert.ok(!allows('D1@temp', 'CH:temp'));
  });

  it('binds {cid} and {did} as literal text, and @topic means the own CID', () => {
    assert.ok(allows('dev/{did}/#', 'CH:dev/dev1/x'));
    assert.ok(!allows('dev/{did}/#', 'CH:dev/dev2/x'));
    assert.ok(allows('dev-{did}-{cid}', 'CH:dev-dev1-C1'));
    assert.ok(allows('@#', 'CID:C1@anything/here'));
    assert.ok(!allows('@#', 'CID:C2@x'));
    assert.ok(allows('{cid}@state', 'CID:C1@state'));
    // An id holding pattern characters is text: it can never widen the rule.
    const wild: Binding = { cid: '+', did: '#' };
    assert.ok(!allows('dev/{did}/x', 'CH:dev/other/x', wild));
    assert.ok(allows('dev/{did}/x', 'CH:dev/#/x', wild));
    assert.ok(!allows('{cid}@x', 'CID:D9@x', wild));
  });

  it('fails closed on unusable placeholder values: nothing in an allow rule, any level in a deny rule', () => {
    const anonymous: Binding = { cid: '?ab', did: '' };
    assert.ok(!allows('dev/{did}/#', 'CH:dev//x', anonymous), 'an empty id allows nothing');
    assert.ok(denies('dev/{did}/#', 'CH:dev/whatever/x', anonymous), 'an empty id denies any id');
    const slashed: Binding = { cid: 'a/b', did: 'x/y' };
    assert.ok(!allows('dev/{did}/#', 'CH:dev/x/y/z', slashed), 'an id with / cannot span levels');
    assert.ok(denies('dev/{did}', 'CH:dev/q', slashed));
    assert.ok(!allows('@#', 'CID:@x', { cid: '', did: '' }), 'no CID yet: its own CID publish is not granted by @#');
  });

  it('keeps $ channels out of an allow rule wildcard at the first level, and in a deny rule', () => {
    assert.ok(!allows('#', 'CH:$SYS/x'));
    assert.ok(!allows('+/x', 'CH:$SYS/x'));
    assert.ok(allows('$SYS/#', 'CH:$SYS/x'));
    assert.ok(denies('#', 'CH:$SYS/x'));
    assert.ok(patternMatches(parseChannelPattern('*'), obj('CH:$SYS/x'), DEV, false), '* names everything');
  });

  it('reads escapes: a level that is a + or # character, spaces, @ and braces', () => {
    assert.ok(allows('a/\\+', 'CH:a/+'));
    assert.ok(!allows('a/\\+', 'CH:a/b'));
    assert.equal(parseChannelPattern('\\#lab').kind, 'channel', 'an escaped # is not a home channel');
    assert.ok(allows('my\\ room', 'CH:my room'));
    assert.ok(allows('x\\{did\\}', 'CH:x{did}'));
    assert.ok(allows('\\*', 'CH:*'));
    assert.ok(allows('D1@a@b', 'CID:D1@a@b'), 'only the first @ splits');
    assert.equal(parseChannelPattern('#h@t').kind, 'home', 'a leading # makes a home pattern, as subscribing #h@t joins a home channel');
  });

  it('refuses malformed patterns with the reason', () => {
    const bad: [string, RegExp][] = [
      ['a/#/b', /must be the last level/],
      ['a+/b', /whole level/],
      ['a/b#', /whole level/],
      ['x/{name}', /unknown placeholder/],
      ['x/{did', /without "}"/],
      ['x}', /without "{"/],
      ['a*b', /on its own/],
      ['a/b\\', /escapes nothing/],
      ['a/b@c', /CID before "@" is one level/],
      ['x'.repeat(1025), /over 1024 bytes/],
      [Array(70).fill('a').join('/'), /more than 64 levels/],
    ];
    for (const [raw, reason] of bad) {
      assert.throws(() => parseChannelPattern(raw), (err: unknown) => err instanceof PatternError && reason.test(err.message), raw);
    }
  });

  it('reads call patterns as a service and, optionally, a command', () => {
    const matches = (p: string, service: string, command: string): boolean =>
      patternMatches(parseServicePattern(p), obj(callKey(service, command)), DEV, false);
    assert.ok(matches('reply', 'reply', 'echo'));
    assert.ok(matches('reply/echo', 'reply', 'echo'));
    assert.ok(!matches('reply/echo', 'reply', 'date'));
    assert.ok(!matches('reply', 'sudo', 'cid'));
    assert.ok(matches('+', 'sudo', 'cid'));
    assert.ok(matches('*', 'sudo', 'cid'));
    assert.throws(() => parseServicePattern('a/b/c'), /<service>\/<command>/);
  });

  it('tells whether a pattern covers or meets a filter', () => {
    const bound = (p: string, deny = false): ReturnType<typeof bindLevels> => bindLevels(parseChannelPattern(p) as Pattern, DEV, deny);
    const covers = (p: string, f: string, deny = false): boolean => levelsCover(bound(p, deny)!, channelFilter(f).levels, 'channel', deny);
    const meets = (p: string, f: string, deny = false): boolean => levelsIntersect(bound(p, deny)!, channelFilter(f).levels, 'channel', deny);
    assert.ok(covers('a/#', 'a/+/c'));
    assert.ok(covers('a/#', 'a'));
    assert.ok(covers('+/b', 'x/b'));
    assert.ok(!covers('a/+', 'a/#'));
    assert.ok(!covers('a/b', 'a/+'));
    assert.ok(!covers('a/+/c', 'a/+'));
    assert.ok(meets('a/b', 'a/+'));
    assert.ok(meets('a/#', 'a'));
    assert.ok(meets('+/+', '#'));
    assert.ok(!meets('a/b', 'a/c'));
    assert.ok(!meets('a/b/c', 'a/+'));
    assert.ok(!meets('#', '$SYS/#'), 'an allow wildcard does not reach $ channels');
    assert.ok(meets('#', '$SYS/#', true), 'a deny wildcard does');
    assert.ok(!meets('$SYS/#', '#'), 'a filter wildcard never delivers $ channels');
    assert.ok(covers('dev/{did}/#', 'dev/dev1/+'));
    assert.ok(!covers('dev/{did}/#', 'dev/+/x'));
    assert.equal(bindLevels(parseChannelPattern('dev/{did}'), { cid: '', did: '' }, false), null);
    const cidLevels = bindLevels(parseChannelPattern('@#'), DEV, false)!;
    assert.ok(levelsCover(cidLevels, cidFilter('C1', '#').levels, 'cid', false));
    assert.ok(!levelsIntersect(cidLevels, cidFilter('C2', '#').levels, 'cid', false));
    assert.ok(levelsIntersect(cidLevels, cidFilter('+', 'x').levels, 'cid', false));
  });
});
