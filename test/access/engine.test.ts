// Issue 18: the ACL format (read whole or refused whole, with the lines at fault) and the decision: deny wins,
// what no rule allows is denied once rules are in force, today's behaviour without them, subjects, placeholders,
// session rights, cached decisions that a reload voids, and the answer for subscription filters.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AccessControl } from '../../src/access/engine.js';
import { AclError, parseAcl } from '../../src/access/rules.js';
import { parseGrants } from '../../src/access/grants.js';
import { callKey, channelFilter, cidFilter, homeFilter, sendKey } from '../../src/access/pattern.js';
import type { SubjectFacts } from '../../src/access/subject.js';

const anon = (over: Partial<SubjectFacts> = {}): SubjectFacts => ({
  authenticated: false,
  did: '',
  cid: '?abc',
  level: 3,
  address: '192.168.1.20',
  certificate: null,
  ...over,
});
const member = (did: string, cid: string, over: Partial<SubjectFacts> = {}): SubjectFacts => anon({ authenticated: true, did, cid, ...over });

function engineWith(text: string): AccessControl {
  const engine = new AccessControl();
  engine.replace(parseAcl(text, 'test.acl'));
  return engine;
}

function aclError(text: string): AclError {
  try {
    parseAcl(text, 'test.acl');
  } catch (err) {
    assert.ok(err instanceof AclError, String(err));
    return err;
  }
  assert.fail('the ACL was accepted');
}

describe('ACL format', () => {
  it('reads comments, blank lines, CRLF, several patterns on a line, escapes, and rate lines', () => {
    const rules = parseAcl(
      [
        '# devices and the monitor',
        '',
        '   # indented comment',
        'allow members publish,subscribe sensors/# status/+\r',
        'deny  anonymous  all *',
        'allow device:my\\ dev subscribe room\\ 1',
        'rate level:3 100msg/s:200,64KiB/s',
      ].join('\n'),
      'test.acl',
    );
    assert.equal(rules.rules.length, 4);
    assert.deepEqual(
      rules.rules.map((r) => [r.line, r.effect, r.pattern.source]),
      [
        [4, 'allow', 'sensors/#'],
        [4, 'allow', 'status/+'],
        [5, 'deny', '*'],
        [6, 'allow', 'room\\ 1'],
      ],
    );
    assert.equal(rules.rates.length, 1);
    assert.equal(rules.rates[0]!.rates.messages!.burst, 200);
    assert.equal(rules.rates[0]!.rates.bytes!.perSecond, 65536);
    assert.equal(rules.subjects.length, 4, 'equal subjects are one');
  });

  it('refuses a file whole, naming every line at fault and why', () => {
    const err = aclError(
      [
        'allow members publish news/#', // fine
        'allow memberz publish news', // 2: unknown subject
        'allow members publsh news', // 3: unknown right
        'allow members send news/#', // 4: send needs cid@topic
        'allow members publish D1@cmd', // 5: publish to cid@topic is send
        'allow members subscribe,call reply', // 6: call on its own line
        'permit members publish x', // 7
        'allow members publish', // 8: no pattern
        'allow level:7 publish x', // 9: not a level
        'allow address:10.0.0.0/33 publish x', // 10
        'allow members publish a/#/b', // 11
        'rate members 10msg/x', // 12
        'allow members publish ok\u0007', // 13: control character
      ].join('\n'),
    );
    assert.deepEqual(
      err.errors.map((e) => e.line),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
    );
    assert.match(err.message, /^test\.acl: line 2: unknown subject "memberz"/);
    assert.match(err.message, /line 3: unknown right "publsh"/);
    assert.match(err.message, /line 4: send cannot apply to "news\/#": send names <cid>@<topic>/);
    assert.match(err.message, /line 5: publish cannot apply to "D1@cmd": .* granted by send/);
    assert.match(err.message, /line 6: call names services/);
    assert.match(err.message, /line 7: a rule starts with allow, deny or rate/);
    assert.match(err.message, /line 9: level:7: not a level of the quota table/);
    assert.match(err.message, /line 10: address:10\.0\.0\.0\/33: the prefix length must be 0 to 32/);
    assert.match(err.message, /line 11: "#" must be the last level/);
    assert.match(err.message, /line 12: .*unknown period/);
    assert.match(err.message, /line 13: a control character/);
  });

  it('lists at most 20 errors and counts the rest; refuses over-long lines', () => {
    const err = aclError(Array.from({ length: 30 }, () => 'nope').join('\n'));
    assert.equal(err.errors.length, 20);
    assert.match(err.message, /… and 10 more$/);
    assert.match(aclError(`allow members publish ${'a'.repeat(9000)}`).message, /line 1: over 8192 bytes/);
  });

  it('narrows `all` to the rights a pattern can meet', () => {
    const rules = parseAcl('allow members all news/#\nallow members all D1@#\nallow members all *', 'x');
    const names = (mask: number): string[] => ['subscribe', 'publish', 'retain', 'send', 'call'].filter((_, i) => mask & (1 << i));
    assert.deepEqual(names(rules.rules[0]!.rights), ['subscribe', 'publish', 'retain']);
    assert.deepEqual(names(rules.rules[1]!.rights), ['subscribe', 'retain', 'send']);
    assert.deepEqual(names(rules.rules[2]!.rights), ['subscribe', 'publish', 'retain', 'send', 'call']);
  });
});

describe('access decisions', () => {
  it('allows everything with no ACL (today), and a subject is shared by nothing', () => {
    const engine = new AccessControl();
    const s = engine.subject(anon());
    for (const right of ['subscribe', 'publish', 'retain', 'send', 'call'] as const) assert.ok(engine.allows(s, right, 'CH:x'));
    assert.equal(engine.filterVerdict(s, channelFilter('#')), 'all');
    assert.equal(engine.configured, false);
  });

  it('denies what no rule allows once rules are in force, and deny wins over allow', () => {
    const engine = engineWith(['allow any subscribe #', 'deny anonymous subscribe secret/#', 'allow any subscribe secret/open'].join('\n'));
    const a = engine.subject(anon());
    const m = engine.subject(member('dev1', 'C1'));
    assert.ok(engine.mayRead(a, 'CH:news'));
    assert.ok(!engine.mayRead(a, 'CH:secret/x'));
    assert.ok(!engine.mayRead(a, 'CH:secret/open'), 'deny wins even against a narrower allow');
    assert.ok(engine.mayRead(m, 'CH:secret/open'));
    assert.ok(!engine.allows(m, 'publish', 'CH:news'), 'no rule grants publish');
    assert.ok(!engine.mayRead(m, 'CID:C1@x'), 'no rule grants CID signals');
  });

  it('lets every device publish under its own prefix with one rule, and nowhere else', () => {
    const engine = engineWith('allow members publish,retain dev/{did}/#\nallow any send @#');
    const d1 = engine.subject(member('dev1', 'C1'));
    const d2 = engine.subject(member('dev2', 'C2'));
    const a = engine.subject(anon());
    assert.ok(engine.allows(d1, 'publish', 'CH:dev/dev1/temp'));
    assert.ok(!engine.allows(d1, 'publish', 'CH:dev/dev2/temp'));
    assert.ok(engine.allows(d2, 'publish', 'CH:dev/dev2/temp'));
    assert.ok(engine.allows(d1, 'retain', 'CH:dev/dev1/status$'));
    assert.ok(!engine.allows(a, 'publish', 'CH:dev//temp'), 'anonymous has no device id');
    assert.ok(engine.allows(d1, 'send', sendKey('C1', '$state')), 'its own CID publish');
    assert.ok(!engine.allows(d1, 'send', sendKey('C2', 'cmd')), 'a unicast to another CID');
    assert.ok(engine.allows(a, 'send', sendKey('?abc', 'state')), 'anonymous CIDs are CIDs');
  });

  it('matches each kind of subject', () => {
    const engine = engineWith(
      [
        'allow anonymous subscribe anon',
        'allow members subscribe members',
        'allow device:dev1 subscribe dev1',
        'allow cid:C2 subscribe c2',
        'allow level:200-255 subscribe admin',
        'allow cert:* subscribe certified',
        'allow cert:esp1 subscribe esp1',
        'allow address:10.0.0.0/8 subscribe lan',
        'allow address:2001:db8::/32 subscribe v6',
        'allow address:::ffff:172.16.0.0/108 subscribe mapped',
        'allow members&address:10.1.0.0/16 subscribe both',
        'allow dashboard subscribe board',
      ].join('\n'),
    );
    const readable = (facts: SubjectFacts): string[] => {
      const s = engine.subject(facts);
      return ['anon', 'members', 'dev1', 'c2', 'admin', 'certified', 'esp1', 'lan', 'v6', 'mapped', 'both', 'board'].filter((t) => engine.mayRead(s, `CH:${t}`));
    };
    assert.deepEqual(readable(anon()), ['anon']);
    assert.deepEqual(readable(member('dev1', 'C1')), ['members', 'dev1']);
    assert.deepEqual(readable(member('dev2', 'C2', { level: 255 })), ['members', 'c2', 'admin']);
    assert.deepEqual(readable(anon({ certificate: 'esp1' })), ['anon', 'certified', 'esp1']);
    assert.deepEqual(readable(anon({ certificate: 'other' })), ['anon', 'certified']);
    assert.deepEqual(readable(anon({ address: '10.9.8.7' })), ['anon', 'lan']);
    assert.deepEqual(readable(member('d', 'D', { address: '10.1.2.3' })), ['members', 'lan', 'both']);
    assert.deepEqual(readable(anon({ address: '2001:db8::7' })), ['anon', 'v6']);
    assert.deepEqual(readable(anon({ address: '172.16.3.4' })), ['anon', 'mapped']);
    assert.deepEqual(readable(anon({ address: 'fe80::1%eth0' })), ['anon']);
    assert.deepEqual(readable(member('dev1', 'C1', { authenticated: false })), ['anon'], 'a device id counts only once logged in');
    assert.deepEqual(readable(member('', '', { dashboard: true, level: 255 })), ['members', 'admin', 'board'], 'the dashboard send form');
  });

  it('decides send, retain and call on their own objects', () => {
    const engine = engineWith(['allow any send S1@cmd', 'allow any retain status$', 'allow level:0-3 call reply', 'allow level:255 call sudo/cid'].join('\n'));
    const s = engine.subject(anon());
    const admin = engine.subject(member('root', 'R', { level: 255 }));
    assert.ok(engine.allows(s, 'send', sendKey('S1', 'cmd')));
    assert.ok(!engine.allows(s, 'send', sendKey('S1', 'other')));
    assert.ok(engine.allows(s, 'retain', 'CH:status$'));
    assert.ok(!engine.allows(s, 'publish', 'CH:status$'), 'retain does not imply publish');
    assert.ok(engine.allows(s, 'call', callKey('reply', 'echo')));
    assert.ok(!engine.allows(s, 'call', callKey('sudo', 'cid')));
    assert.ok(engine.allows(admin, 'call', callKey('sudo', 'cid')));
    assert.ok(!engine.allows(admin, 'call', callKey('sudo', 'close')));
    assert.ok(!engine.allows(admin, 'call', callKey('reply', 'echo')), 'level 255 is not in 0-3');
  });

  it('voids cached decisions on reload and when a login changes the subject', () => {
    const engine = engineWith('allow members subscribe news');
    const s = engine.subject(anon());
    assert.ok(!engine.mayRead(s, 'CH:news'));
    s.update({ authenticated: true, did: 'dev1', cid: 'C1' });
    assert.ok(engine.mayRead(s, 'CH:news'), 'the login counts at once');
    const changes: number[] = [];
    const stop = engine.onChange((change) => changes.push(change.generation));
    const before = engine.generation;
    engine.replace(parseAcl('allow members subscribe other', 'reload'));
    assert.deepEqual(changes, [before + 1]);
    assert.ok(!engine.mayRead(s, 'CH:news'), 'the reload counts at once');
    assert.deepEqual(engine.deniedAmong(s, ['CH:news', 'CH:other']), ['CH:news']);
    engine.replace(null);
    assert.ok(engine.mayRead(s, 'CH:news'), 'no ACL: open again');
    stop();
    engine.replace(null);
    assert.equal(changes.length, 2);
  });

  it('shares one decision cache among subjects of the same profile, and keeps placeholder rights per subject', () => {
    const engine = engineWith('allow any subscribe #\nallow members publish dev/{did}/#');
    const a = engine.subject(anon({ cid: '?a' }));
    const b = engine.subject(anon({ cid: '?b' }));
    const d1 = engine.subject(member('dev1', 'C1'));
    const d2 = engine.subject(member('dev2', 'C2'));
    for (const s of [a, b, d1, d2]) {
      engine.mayRead(s, 'CH:x');
      engine.allows(s, 'publish', 'CH:dev/dev1/t');
    }
    assert.equal(a.profile, b.profile, 'anonymous subjects share a profile, hence its verdicts');
    assert.equal(d1.profile, d2.profile, 'members share theirs');
    assert.notEqual(a.profile, d1.profile);
    assert.equal(a.profile.verdicts[0]!.size, 1, 'one shared verdict for CH:x, not one per subject');
    assert.equal(d1.own[0], null, 'subscribe: shared verdicts only');
    assert.ok(d1.own[1] && d2.own[1] && d1.own[1] !== d2.own[1], 'a placeholder rule makes publish decisions personal');
    assert.equal(a.own[1], null, 'not for anonymous subjects, to whom the placeholder rule does not apply');
    assert.ok(engine.allows(d1, 'publish', 'CH:dev/dev1/t'));
    assert.ok(!engine.allows(d2, 'publish', 'CH:dev/dev1/t'));
  });

  it('keeps each cache within its bound', () => {
    const engine = new AccessControl({ maxDecisionsPerProfile: 8, maxDecisionsPerSubject: 4 });
    engine.replace(parseAcl('allow any subscribe #\nallow members publish dev/{did}/#', 'x'));
    const s = engine.subject(member('dev1', 'C1'));
    for (let i = 0; i < 100; i++) {
      assert.ok(engine.mayRead(s, `CH:c${i}`));
      assert.equal(engine.allows(s, 'publish', `CH:dev/dev1/${i}`), true);
    }
    assert.ok(s.profile.verdicts[0]!.size <= 8);
    assert.ok(s.own[1]!.size <= 4);
  });

  it('applies a session’s own rights: they close the rights they name, and add to the ACL', () => {
    const engine = new AccessControl();
    const grants = parseGrants({ publish: ['dev/{did}/#'], deny: { subscribe: ['secret/#'] } });
    const s = engine.subject(member('dev1', 'C1'), { grants });
    assert.ok(engine.allows(s, 'publish', 'CH:dev/dev1/x'));
    assert.ok(!engine.allows(s, 'publish', 'CH:elsewhere'), 'publish is named: closed elsewhere');
    assert.ok(engine.mayRead(s, 'CH:news'), 'subscribe is not allowed anywhere by the token: open as before');
    assert.ok(!engine.mayRead(s, 'CH:secret/x'), 'but its deny holds');
    engine.replace(parseAcl('allow members subscribe news\ndeny any publish dev/+/config', 'acl'));
    assert.ok(engine.mayRead(s, 'CH:news'));
    assert.ok(!engine.mayRead(s, 'CH:other'), 'with an ACL, what nothing allows is denied');
    assert.ok(!engine.allows(s, 'publish', 'CH:dev/dev1/config'), 'the ACL deny wins over the token');
    assert.ok(engine.allows(s, 'publish', 'CH:dev/dev1/x'));
    const emqx = parseGrants([
      { permission: 'allow', action: 'subscribe', topic: 'a/#' },
      { permission: 'deny', action: 'all', topic: 'a/b' },
    ]);
    const e = engine.subject(member('x', 'X'), { grants: emqx });
    assert.ok(engine.mayRead(e, 'CH:a/c'));
    assert.ok(!engine.mayRead(e, 'CH:a/b'));
    assert.throws(() => parseGrants({ publish: ['a/#/b'] }), /must be the last level/);
    assert.throws(() => parseGrants({ fly: ['x'] }), /unknown right "fly"/);
    assert.throws(() => parseGrants('x'), /rights must be/);
    assert.throws(() => parseGrants({ publish: Array(300).fill('x') }), /more than 256 patterns/);
  });

  it('lets a superuser do anything', () => {
    const engine = engineWith('deny any all *');
    const s = engine.subject(member('root', 'R'), { superuser: true });
    assert.ok(engine.allows(s, 'publish', 'CH:x'));
    assert.equal(engine.filterVerdict(s, channelFilter('#')), 'all');
  });

  it('answers for subscription filters: all, some (check each channel) or none', () => {
    const engine = engineWith(
      ['allow any subscribe sensors/#', 'deny anonymous subscribe sensors/private/#', 'allow members subscribe {cid}@#', 'allow any subscribe ##'].join('\n'),
    );
    const a = engine.subject(anon());
    const m = engine.subject(member('d', 'C1'));
    assert.equal(engine.filterVerdict(m, channelFilter('sensors/#')), 'all');
    assert.equal(engine.filterVerdict(a, channelFilter('sensors/#')), 'some', 'a deny inside it');
    assert.equal(engine.filterVerdict(a, channelFilter('sensors/private/+')), 'none', 'a deny covers it');
    assert.equal(engine.filterVerdict(a, channelFilter('#')), 'some', 'sensors/ is readable, the rest is not');
    assert.equal(engine.filterVerdict(a, channelFilter('news/#')), 'none', 'nothing allows it');
    assert.equal(engine.filterVerdict(a, channelFilter('sensors/x')), 'all', 'an exact filter is one decision');
    assert.equal(engine.filterVerdict(a, channelFilter('sensors/private/x')), 'none');
    assert.equal(engine.filterVerdict(m, cidFilter('C1', '#')), 'all');
    assert.equal(engine.filterVerdict(m, cidFilter('+', '#')), 'some');
    assert.equal(engine.filterVerdict(m, cidFilter('C2', '#')), 'none');
    assert.equal(engine.filterVerdict(a, homeFilter('#')), 'all');
    assert.equal(engine.filterVerdict(a, channelFilter('$SYS/#')), 'none', 'wildcards do not grant $ channels');
  });

  it('picks the strictest rate among the rate lines that apply', () => {
    const engine = engineWith(['allow any subscribe #', 'rate any 100msg/s,1MiB/s', 'rate level:0-3 10msg/s', 'rate device:cam 5MiB/s'].join('\n'));
    const cam = engine.subject(member('cam', 'CAM', { level: 12 }));
    const small = engine.subject(anon());
    assert.equal(engine.rateFor(cam)!.messages!.perSecond, 100);
    assert.equal(engine.rateFor(cam)!.bytes!.perSecond, 1024 * 1024, 'the stricter of 1 MiB/s and 5 MiB/s');
    assert.equal(engine.rateFor(small)!.messages!.perSecond, 10);
    assert.equal(new AccessControl().rateFor(engine.subject(anon())), null);
  });
});



describe('access denials', () => {
  it('counts every denial per right and logs at most ten lines a second', async () => {
    const { AccessDenials } = await import('../../src/access/denials.js');
    const lines: string[] = [];
    const denials = new AccessDenials((line) => lines.push(line));
    for (let i = 0; i < 50; i++) denials.record('publish', '#1 cid D1', 'secret/x y', 1000);
    denials.record('subscribe', '#1 cid D1', 'a', 2000);
    assert.equal(denials.counts.publish, 50);
    assert.equal(denials.counts.subscribe, 1);
    assert.equal(lines.length, 11);
    assert.equal(lines[0], 'access denied: publish secret/x\\x20y for #1 cid D1');
    assert.match(lines[10]!, /subscribe a for #1 cid D1 \(40 similar lines suppressed\)/);
  });
});
