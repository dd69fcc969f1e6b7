// The access check the MQTT engine calls (src/access/check.ts): `(identity, action, channel) → allowed` over the
// broker's rules, channel names and router keys alike, session rights, the filter verdict of a SUBACK, and the
// subject made again for a new identity object (a re-login).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessControl } from '../../src/access/engine.js';
import { accessCheck, type AccessIdentity } from '../../src/access/check.js';
import { AccessDenials } from '../../src/access/denials.js';
import { parseAcl } from '../../src/access/rules.js';
import { parseGrants } from '../../src/access/grants.js';
import { channelFilter } from '../../src/access/pattern.js';

const RULES = `
allow any     subscribe sensors/#
allow members publish   dev/{did}/#
allow members send      @#
deny  any     subscribe sensors/secret/#
`;

const anonymous: AccessIdentity = { cid: '?abc', did: '', level: 3, address: '10.0.0.1' };
const member: AccessIdentity = { cid: 'D1', did: 'dev1', level: 2, address: '10.0.0.2' };

describe('the access check for other engines (MQTT)', () => {
  it('allows everything with no rules configured', () => {
    const check = accessCheck(new AccessControl());
    assert.equal(check.configured, false);
    assert.equal(check(anonymous, 'publish', 'anything/at/all'), true);
  });

  it('decides by the rules: channel names and router keys, placeholders, deny wins; denials are counted', () => {
    const engine = new AccessControl();
    engine.replace(parseAcl(RULES, 'test'));
    const lines: string[] = [];
    const denials = new AccessDenials((l) => lines.push(l));
    const check = accessCheck(engine, denials);
    assert.equal(check.configured, true);
    assert.equal(check(anonymous, 'subscribe', 'sensors/a/temp'), true);
    assert.equal(check(anonymous, 'subscribe', 'CH:sensors/a/temp'), true);
    assert.equal(check(anonymous, 'subscribe', 'sensors/secret/x'), false);
    assert.equal(check(anonymous, 'publish', 'dev/dev1/x'), false);
    assert.equal(check(member, 'publish', 'dev/dev1/x'), true);
    assert.equal(check(member, 'publish', 'dev/dev2/x'), false);
    assert.equal(check(member, 'send', 'CID:D1@state'), true);
    assert.equal(check(member, 'send', 'CID:D2@state'), false);
    assert.equal(denials.counts.subscribe, 1);
    assert.equal(denials.counts.publish, 2);
    assert.match(lines[0]!, /access denied: subscribe sensors\/secret\/x for cid \?abc did -/);
    assert.equal(check.filter(anonymous, channelFilter('sensors/a/+')), 'all');
    assert.equal(check.filter(anonymous, channelFilter('sensors/+/temp')), 'some', 'it may name sensors/secret/temp');
    assert.equal(check.filter(anonymous, channelFilter('sensors/#')), 'some');
    assert.equal(check.filter(anonymous, channelFilter('other/#')), 'none');
  });

  it('session rights bind without an ACL; a new identity object is a new subject', () => {
    const check = accessCheck(new AccessControl());
    const withRights: AccessIdentity = { ...member, grants: parseGrants({ publish: ['dev/{did}/#'] }) };
    assert.equal(check(withRights, 'publish', 'dev/dev1/a'), true);
    assert.equal(check(withRights, 'publish', 'elsewhere'), false);
    assert.equal(check(withRights, 'subscribe', 'elsewhere'), true, 'rights it does not name stay open');
    const relogged: AccessIdentity = { ...withRights, did: 'dev2' };
    assert.equal(check(relogged, 'publish', 'dev/dev1/a'), false);
    assert.equal(check({ ...anonymous, superuser: true }, 'publish', 'x'), true);
  });
});
