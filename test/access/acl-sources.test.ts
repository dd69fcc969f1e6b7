// Issue 18: where rules come from. `--acl <file>`: refused whole at start, re-read on SIGHUP with the previous
// rules kept when the new file is unusable. Redis (cluster): every node reloads on the notification within a
// second, catches a lost notification by looking at the version, fails closed before its first read, and keeps
// its rules through an unusable version, a deleted key or an outage.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { AccessControl } from '../../src/access/engine.js';
import { AclFile, readBounded } from '../../src/access/acl-file.js';
import { AclRedisSource, aclRedisKeys, writeAclToRedis } from '../../src/access/acl-redis.js';
import { AclError } from '../../src/access/rules.js';
import { redisTarget } from '../../src/auth/redis-target.js';
import type { SubjectFacts } from '../../src/access/subject.js';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';
import { waitFor } from '../kit/wait.js';
import { freePort } from '../kit/server.js';

const FACTS: SubjectFacts = { authenticated: true, did: 'dev1', cid: 'C1', level: 3, address: '10.0.0.1', certificate: null };

function reads(engine: AccessControl, key: string): boolean {
  return engine.mayRead(engine.subject(FACTS), key);
}

describe('ACL file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-acl-'));
  const path = join(dir, 'rules.acl');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads at start, and refuses an invalid file whole with the line at fault', async () => {
    writeFileSync(path, '# lab\nallow members subscribe news\nallow members subscrbe x\n');
    const engine = new AccessControl();
    await assert.rejects(AclFile.open(path, engine, () => undefined), (err: unknown) => err instanceof AclError && /rules\.acl: line 3: unknown right "subscrbe"/.test(err.message));
    assert.equal(engine.ruleSet, null, 'nothing of it was applied');
    await assert.rejects(AclFile.open(join(dir, 'missing.acl'), engine, () => undefined), /missing\.acl.*ENOENT/);
  });

  it('reloads on demand (SIGHUP) and keeps the rules in force when the new file is unusable', async () => {
    writeFileSync(path, 'allow members subscribe news\n');
    const engine = new AccessControl();
    const lines: string[] = [];
    const file = await AclFile.open(path, engine, (line) => lines.push(line));
    assert.match(lines[0]!, /rules\.acl: 1 rules \(1 allow, 0 deny\), 0 rate lines$/);
    assert.ok(reads(engine, 'CH:news'));
    writeFileSync(path, 'allow members subscribe other\n');
    assert.deepEqual(await file.reload(), { ok: true, rules: 1 });
    assert.ok(!reads(engine, 'CH:news'));
    assert.ok(reads(engine, 'CH:other'));
    writeFileSync(path, 'allow members subscribe other\ndeny nobody subscribe x\n');
    const failed = await file.reload();
    assert.equal(failed.ok, false);
    assert.match(lines.at(-1)!, /reload FAILED, the previous 1 rules stay in force: .*line 2: unknown subject "nobody"/);
    assert.ok(reads(engine, 'CH:other'), 'the previous rules stay');
    rmSync(path);
    assert.equal((await file.reload()).ok, false);
    assert.ok(reads(engine, 'CH:other'));
    writeFileSync(path, '# nothing allowed\ndeny any all *\n');
    await file.reload();
    assert.match(lines.at(-1)!, /WARNING: no allow rule, everything is denied/);
    assert.ok(!reads(engine, 'CH:other'));
  });

  it('reads at most the bytes a rule source may hold, and only regular files', async () => {
    writeFileSync(path, 'x'.repeat(100));
    await assert.rejects(readBounded(path, 99), /100 bytes, over the 99/);
    assert.equal((await readBounded(path, 100)).length, 100);
    const sub = join(dir, 'a-dir');
    mkdirSync(sub);
    await assert.rejects(readBounded(sub, 100), /not a regular file/);
  });
});

describe('ACL in Redis', { skip: redisSkipReason() }, () => {
  let server: RedisServerProcess;
  let writer: Redis;
  const prefix = 'acltest';
  const { hash, channel } = aclRedisKeys(prefix);
  const sources: AclRedisSource[] = [];

  function node(pollMs = 60_000): { engine: AccessControl; source: AclRedisSource; lines: string[] } {
    const engine = new AccessControl();
    const lines: string[] = [];
    const source = new AclRedisSource(engine, { target: redisTarget(server.url, {}), prefix, pollMs, log: (line) => lines.push(line) });
    sources.push(source);
    return { engine, source, lines };
  }

  before(async () => {
    server = await RedisServerProcess.start();
    writer = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    writer.on('error', () => undefined);
  });
  after(async () => {
    for (const source of sources) await source.close();
    writer?.disconnect();
    await server?.stop();
  });

  it('denies everything before its first read, then reloads every node on a write within a second', async () => {
    await writer.del(hash);
    const a = node();
    const b = node();
    assert.ok(!reads(a.engine, 'CH:news'), 'no rules read yet: fail closed');
    await Promise.all([a.source.start(), b.source.start()]);
    assert.ok(!reads(a.engine, 'CH:news'), 'still none in Redis');
    assert.ok(a.lines.some((l) => /no rules at acltest:acl/.test(l)));
    const version = await writeAclToRedis(writer, prefix, 'allow members subscribe news\n');
    assert.equal(version, 1);
    const started = Date.now();
    await waitFor(() => reads(a.engine, 'CH:news') && reads(b.engine, 'CH:news'), 1000, 'both nodes to load version 1');
    assert.ok(Date.now() - started < 1000);
    await writeAclToRedis(writer, prefix, 'allow members subscribe other\n');
    await waitFor(() => !reads(a.engine, 'CH:news') && reads(b.engine, 'CH:other'), 1000, 'both nodes to load version 2');
    assert.match(a.lines.at(-1)!, /version 2: 1 rules/);
  });

  it('refuses to write an invalid text, and a node keeps its rules when an invalid one is written anyway', async () => {
    const n = node();
    await writeAclToRedis(writer, prefix, 'allow members subscribe news\n');
    await n.source.start();
    await waitFor(() => reads(n.engine, 'CH:news'), 1000, 'the node to load');
    await assert.rejects(writeAclToRedis(writer, prefix, 'allow members subscribe a/#/b\n'), /line 1: "#" must be the last level/);
    assert.equal(await writer.hget(hash, 'rules'), 'allow members subscribe news\n', 'nothing was written');
    await writer.multi().hset(hash, 'rules', 'allow memberz subscribe x').hincrby(hash, 'version', 1).exec();
    await writer.publish(channel, 'x');
    await waitFor(() => n.lines.some((l) => /unknown subject "memberz".*; the previous 1 rules stay in force/.test(l)), 1000, 'the refusal');
    assert.ok(reads(n.engine, 'CH:news'));
    await writer.del(hash);
    await writer.publish(channel, 'x');
    await waitFor(() => n.lines.some((l) => /no rules at acltest:acl .*stay in force/.test(l)), 1000, 'the missing key logged');
    assert.ok(reads(n.engine, 'CH:news'), 'a deleted key keeps the rules in force');
  });

  it('catches a lost notification by looking at the version', async () => {
    await writeAclToRedis(writer, prefix, 'allow members subscribe news\n');
    const n = node(100);
    await n.source.start();
    await waitFor(() => reads(n.engine, 'CH:news'), 1000, 'the first load');
    // Written without the PUBLISH: only the version tells.
    await writer.multi().hset(hash, 'rules', 'allow members subscribe quiet').hincrby(hash, 'version', 1).exec();
    await waitFor(() => reads(n.engine, 'CH:quiet'), 1000, 'the poll to find the new version');
  });

  it('keeps its rules through an outage and reloads what changed meanwhile when Redis is back', async () => {
    await writeAclToRedis(writer, prefix, 'allow members subscribe before\n');
    const n = node(100);
    await n.source.start();
    await waitFor(() => reads(n.engine, 'CH:before'), 1000, 'the first load');
    await server.stop();
    await waitFor(() => writer.status !== 'ready', 5000, 'clients to see the outage');
    assert.ok(reads(n.engine, 'CH:before'), 'rules stay while Redis is away');
    assert.equal((await n.source.reload()).ok, false, 'a read during the outage fails');
    assert.ok(reads(n.engine, 'CH:before'), 'and changes nothing');
    await server.restart();
    // The restarted server is empty (no persistence): write the new rules as a fresh deployment would.
    await waitFor(() => writer.status === 'ready', 5000, 'the writer to reconnect');
    await writeAclToRedis(writer, prefix, 'allow members subscribe after\n');
    await waitFor(() => reads(n.engine, 'CH:after'), 5000, 'the node to reload after the outage');
  });

  it('fails closed on a node that never reaches Redis', async () => {
    const engine = new AccessControl();
    const lines: string[] = [];
    const dead = new AclRedisSource(engine, { target: redisTarget(`redis://127.0.0.1:${await freePort()}`, {}), prefix, pollMs: 1000, log: (l) => lines.push(l) });
    sources.push(dead);
    await dead.start(200);
    assert.ok(!reads(engine, 'CH:news'));
    assert.match(engine.ruleSet!.source, /not read yet: everything is denied/);
  });
});
