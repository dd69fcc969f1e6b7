// Issue 18 item 3: the HTTP auth hook against a real local service that is fast, slow, dead, lying, garbled or
// huge: the JSON contract both ways, the cache (denials kept shorter, never past expire_at), one call for
// identical concurrent logins, the bound on concurrency (beyond it, refused at once), the failure policy
// (fail closed by default, or fall through) and the stale-if-error grace.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthHook, type HookDecision, type HookOptions, type HookRequest } from '../../src/auth/hook.js';
import { ManualClock } from '../kit/manual-clock.js';
import { LocalHttp } from './local-http.js';
import { waitFor } from '../kit/wait.js';

const clock = new ManualClock();

const login = (over: Partial<HookRequest> = {}): HookRequest => ({
  transport: 'mqtt',
  peerhost: '10.0.0.7',
  tls: true,
  device_id: 'esp1',
  password: 'pw',
  token: null,
  cert_id: null,
  client_id: 'c1',
  ...over,
});

function kind(decision: HookDecision): string {
  return decision.kind;
}

describe('auth hook', { timeout: 20_000 }, () => {
  let http: LocalHttp;
  const logs: string[] = [];

  before(async () => {
    http = await LocalHttp.start();
  });
  after(() => http.close());

  const hook = (over: Partial<HookOptions> = {}): AuthHook => new AuthHook({ url: `${http.url}/auth`, timeoutMs: 3000, log: (l) => logs.push(l), clock, ...over });

  it('asks with the documented request and admits an allow answer as an identity', async () => {
    const expireAt = Math.floor(clock.now() / 1000) + 3600;
    http.json(200, { result: 'allow', cid: 'ESP-1', level: 2, is_superuser: false, rights: { publish: ['dev/{did}/#'] }, expire_at: expireAt, extra: 'ignored' });
    const start = http.requests.length;
    const decision = await hook().decide(login());
    assert.equal(decision.kind, 'allow');
    if (decision.kind !== 'allow') return;
    assert.deepEqual(
      { ...decision.identity, grants: decision.identity.grants?.rules.length },
      { via: 'hook', did: 'esp1', cid: 'ESP-1', level: 2, grants: 1, superuser: false, expiresAt: expireAt * 1000 },
    );
    const sent = http.requests[start]!;
    assert.equal(sent.method, 'POST');
    assert.equal(sent.headers['content-type'], 'application/json');
    // The contract's request: these two fields, then exactly the fields of HookRequest.
    assert.deepEqual(JSON.parse(sent.body), { version: 1, action: 'login', ...login() });
  });

  it('reads deny, ignore and 204, a superuser, a device id from the hook or the certificate', async () => {
    http.json(200, { result: 'deny', reason: 'suspended\nline two' });
    const denied = await hook().decide(login());
    assert.equal(denied.kind, 'deny');
    assert.match(denied.kind === 'deny' ? denied.reason : '', /denied the login: suspended\\x0aline two/);
    http.json(200, { result: 'ignore' });
    assert.equal(kind(await hook().decide(login())), 'ignore');
    http.handler = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    assert.equal(kind(await hook().decide(login())), 'ignore');
    http.json(200, { result: 'allow', is_superuser: true, device_id: 'renamed' });
    const su = await hook().decide(login());
    assert.ok(su.kind === 'allow' && su.identity.superuser && su.identity.did === 'renamed' && su.identity.cid === 'renamed');
    http.json(200, { result: 'allow' });
    const cert = await hook().decide(login({ device_id: null, password: null, cert_id: 'board9' }));
    assert.ok(cert.kind === 'allow' && cert.identity.did === 'board9' && cert.identity.level === 3 && cert.identity.expiresAt === null);
  });

  it('caches answers: allow for the TTL (never past expire_at), deny and ignore shorter, one call for identical logins', async () => {
    const h = hook({ cacheTtlMs: 60_000, negativeTtlMs: 5000 });
    http.json(200, { result: 'allow' });
    let start = http.requests.length;
    await Promise.all(Array.from({ length: 10 }, () => h.decide(login({ device_id: 'same' }))));
    assert.equal(http.requests.length, start + 1, 'ten identical logins at once, one call');
    const again = await h.decide(login({ device_id: 'same' }));
    assert.ok(again.cached);
    assert.equal(http.requests.length, start + 1);
    assert.equal(kind(await h.decide(login({ device_id: 'same', password: 'other' }))), 'allow');
    assert.equal(http.requests.length, start + 2, 'another password is another question');
    clock.advance(60_001);
    await h.decide(login({ device_id: 'same' }));
    assert.equal(http.requests.length, start + 3, 'asked again after the TTL');

    http.json(200, { result: 'deny' });
    start = http.requests.length;
    await h.decide(login({ device_id: 'bad' }));
    await h.decide(login({ device_id: 'bad' }));
    assert.equal(http.requests.length, start + 1);
    clock.advance(5001);
    await h.decide(login({ device_id: 'bad' }));
    assert.equal(http.requests.length, start + 2, 'a denial is kept 5 s only');

    http.json(200, { result: 'allow', expire_at: Math.floor(clock.now() / 1000) + 10 });
    start = http.requests.length;
    await h.decide(login({ device_id: 'short' }));
    clock.advance(10_000);
    await h.decide(login({ device_id: 'short' }));
    assert.equal(http.requests.length, start + 2, 'an allow is not reused past its expire_at');
  });

  it('fails closed when the service is slow, down or answers an error, or falls through when told to', async () => {
    http.handler = () => undefined; // never answers
    const t0 = Date.now();
    const slow = await hook({ timeoutMs: 300 }).decide(login({ device_id: 'slow' }));
    assert.ok(Date.now() - t0 < 2000, 'the time limit holds');
    assert.equal(slow.kind, 'deny');
    assert.match(slow.kind === 'deny' ? slow.reason : '', /auth hook timeout: no complete answer within 300 ms/);
    assert.equal(kind(await hook({ onFailure: 'ignore', timeoutMs: 300 }).decide(login({ device_id: 'slow2' }))), 'ignore');
    http.json(500, { error: 'boom' });
    const h = hook();
    const status = await h.decide(login({ device_id: 'status' }));
    assert.match(status.kind === 'deny' ? status.reason : '', /auth hook status: HTTP 500/);
    assert.equal(h.stats.failures.status, 1);
    http.handler = (_req, res) => res.socket?.destroy();
    assert.match((await hook().decide(login({ device_id: 'cut' }))) .kind, /deny/);
    const dead = await LocalHttp.start();
    const deadUrl = dead.url;
    await dead.close();
    const down = await new AuthHook({ url: `${deadUrl}/auth`, timeoutMs: 3000, log: () => undefined, clock }).decide(login());
    assert.match(down.kind === 'deny' ? down.reason : '', /auth hook unreachable/);
  });

  it('refuses every answer that is not exactly what the contract says, and huge ones', async () => {
    const lies: [unknown, RegExp][] = [
      ['not json', /not JSON/],
      [[{ result: 'allow' }], /not a JSON object/],
      [{ result: 'yes' }, /result must be/],
      [{ result: 'allow', level: 7 }, /level 7 is not in the quota table/],
      [{ result: 'allow', level: 255 }, /above the most/],
      [{ result: 'allow', cid: 'A@B' }, /holds one of @/],
      [{ result: 'allow', is_superuser: 'true' }, /is_superuser must be true or false/],
      [{ result: 'allow', expire_at: clock.now() + 60_000 }, /in seconds, not milliseconds/],
      [{ result: 'allow', expire_at: 1000 }, /already past/],
      [{ result: 'allow', expire_at: '2030' }, /whole seconds/],
      [{ result: 'allow', rights: { publish: ['a/#/b'] } }, /must be the last level/],
      [{ result: 'allow', device_id: '' }, /device id must be a non-empty string/],
      [{ result: 'deny', reason: 42 }, /reason must be a string/],
    ];
    for (const [body, reason] of lies) {
      http.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      const h = hook({ maxLevel: 200 });
      const decision = await h.decide(login({ device_id: `lie-${String(reason)}` }));
      assert.equal(decision.kind, 'deny', String(reason));
      assert.match(decision.kind === 'deny' ? decision.reason : '', reason);
      assert.equal(h.stats.failures.bad_answer, 1);
    }
    http.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ result: 'allow', pad: 'x'.repeat(200_000) }));
    };
    const huge = await hook().decide(login({ device_id: 'huge' }));
    assert.match(huge.kind === 'deny' ? huge.reason : '', /over 65536 bytes/);
  });

  it('refuses at once beyond its concurrency and queue, and keeps order for the rest', async () => {
    const held: (() => void)[] = [];
    http.handler = (_req, res) => {
      held.push(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ result: 'allow' }));
      });
    };
    const h = hook({ concurrency: 2, queue: 2, timeoutMs: 5000 });
    const decisions = Array.from({ length: 6 }, (_, i) => h.decide(login({ device_id: `q${i}` })));
    const fast = await Promise.race([Promise.all([decisions[4], decisions[5]]), new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
    assert.ok(fast, 'the two over the bound are answered at once');
    for (const d of fast) assert.match(d!.kind === 'deny' ? d!.reason : '', /auth hook overloaded: 2 requests in flight and 2 waiting/);
    await waitFor(() => held.length === 2, 2000, 'two calls in flight');
    for (const release of held.splice(0)) release();
    await waitFor(() => held.length === 2, 2000, 'the two queued ones in flight');
    for (const release of held.splice(0)) release();
    for (const d of await Promise.all(decisions.slice(0, 4))) assert.equal(d.kind, 'allow');
    assert.equal(h.stats.failures.overloaded, 2);
  });

  it('uses a just-expired allow while the service fails, within the stale-if-error grace only', async () => {
    const h = hook({ cacheTtlMs: 1000, staleIfErrorMs: 10_000 });
    http.json(200, { result: 'allow', cid: 'S1' });
    assert.equal(kind(await h.decide(login({ device_id: 'stale' }))), 'allow');
    http.json(503, {});
    clock.advance(5000);
    const stale = await h.decide(login({ device_id: 'stale' }));
    assert.ok(stale.kind === 'allow' && stale.cached && stale.identity.cid === 'S1');
    assert.equal(h.stats.staleAnswers, 1);
    clock.advance(10_000);
    assert.equal(kind(await h.decide(login({ device_id: 'stale' }))), 'deny', 'past the grace: the policy');
  });

  it('logs failures at most once a second, counting the rest', async () => {
    http.json(500, {});
    const lines: string[] = [];
    const h = new AuthHook({ url: `${http.url}/auth`, timeoutMs: 3000, log: (l) => lines.push(l), clock });
    for (let i = 0; i < 20; i++) await h.decide(login({ device_id: `f${i}` }));
    assert.equal(lines.length, 1);
    clock.advance(1000);
    await h.decide(login({ device_id: 'next' }));
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /\(19 similar lines suppressed\)/);
  });

  it('needs https, or http to this host only', () => {
    assert.throws(() => new AuthHook({ url: 'http://auth.example/login', log: () => undefined }), /--auth-hook: http:\/\/ is accepted for this host only/);
    assert.throws(() => new AuthHook({ url: 'ftp://x', log: () => undefined }), /only https/);
  });
});
