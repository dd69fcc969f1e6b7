// The seal pool: same bytes as the synchronous code, bounded, and a dying worker costs one job, not the server.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MSG } from '../../src/protocol/codes.js';
import { openSession, sealSession } from '../../src/crypto/frames.js';
import { SealPool, SealPoolFullError } from '../../src/crypto/seal-pool.js';

const key = randomBytes(32);
const nonce = randomBytes(4);
const salt12 = Buffer.concat([randomBytes(8), nonce]);

describe('SealPool', () => {
  const pools: SealPool[] = [];
  const pool = (options: ConstructorParameters<typeof SealPool>[0]): SealPool => {
    const p = new SealPool(options);
    pools.push(p);
    return p;
  };
  after(async () => {
    for (const p of pools) await p.close();
  });

  it('offloads from the threshold on, and seals and opens exactly like the synchronous code', async () => {
    const p = pool({ threads: 2, asyncFrom: 1000 });
    assert.equal(p.offloads(999), false);
    assert.equal(p.offloads(1000), true);
    const secret = randomBytes(300_001);
    const sealed = await p.seal({ type: MSG.ENC_488, key, salt12, secret });
    assert.deepEqual(sealed, sealSession(MSG.ENC_488, key, salt12, secret));
    const opened = await p.open({ type: MSG.ENC_488, key, localNonce: nonce, msg: sealed });
    assert.deepEqual(opened, secret);
    const forged = Buffer.from(sealed);
    forged[forged.length - 1]! ^= 1;
    assert.equal(await p.open({ type: MSG.ENC_488, key, localNonce: nonce, msg: forged }), null);
    assert.deepEqual(openSession(MSG.ENC_488, key, nonce, sealed)?.secret, secret);
  });

  it('copies the plaintext at once: the caller may reuse its buffer', async () => {
    const p = pool({ threads: 1, asyncFrom: 0 });
    const buffer = randomBytes(100_000);
    const original = Buffer.from(buffer);
    const sealing = p.seal({ type: MSG.ENC_488, key, salt12, secret: buffer });
    buffer.fill(0);
    assert.deepEqual(await sealing, sealSession(MSG.ENC_488, key, salt12, original));
  });

  it('refuses jobs beyond maxJobs at once, and takes new ones when they finish', async () => {
    const p = pool({ threads: 1, asyncFrom: 0, maxJobs: 2 });
    const secret = randomBytes(200_000);
    const a = p.seal({ type: MSG.ENC_488, key, salt12, secret });
    const b = p.seal({ type: MSG.ENC_488, key, salt12, secret });
    await assert.rejects(p.seal({ type: MSG.ENC_488, key, salt12, secret }), SealPoolFullError);
    await Promise.all([a, b]);
    assert.equal(p.pending, 0);
    await p.seal({ type: MSG.ENC_488, key, salt12, secret });
    assert.equal(p.stats.refused, 1);
  });

  it('fails only the running job when a worker dies, and replaces the worker', async () => {
    const lines: string[] = [];
    const p = pool({ threads: 1, asyncFrom: 0, log: (line) => lines.push(line) });
    const secret = randomBytes(4 * 1024 * 1024);
    await p.seal({ type: MSG.ENC_488, key, salt12, secret: randomBytes(10) }); // start the worker
    const doomed = p.seal({ type: MSG.ENC_488, key, salt12, secret });
    const next = p.seal({ type: MSG.ENC_488, key, salt12, secret: secret.subarray(0, 1000) });
    const died = assert.rejects(doomed, /seal worker died/);
    await p.killWorkerForTest(0);
    await died;
    assert.deepEqual(await next, sealSession(MSG.ENC_488, key, salt12, secret.subarray(0, 1000)));
    assert.equal(p.stats.respawns, 1);
    assert.match(lines.join('\n'), /seal worker 0 died/);
  });

  it('stops offloading when workers keep dying, so callers seal synchronously', async () => {
    const p = pool({ threads: 1, asyncFrom: 0, log: () => {} });
    for (let i = 0; i <= 10; i++) {
      const job = assert.rejects(p.seal({ type: MSG.ENC_488, key, salt12, secret: randomBytes(1_000_000) }));
      await p.killWorkerForTest(0);
      await job;
    }
    assert.equal(p.offloads(1_000_000), false);
  });

  it('rejects what is pending when closed', async () => {
    const p = pool({ threads: 1, asyncFrom: 0 });
    const job = assert.rejects(p.seal({ type: MSG.ENC_488, key, salt12, secret: randomBytes(2_000_000) }), /closed/);
    await p.close();
    await job;
    await assert.rejects(p.seal({ type: MSG.ENC_488, key, salt12, secret: randomBytes(10) }), /closed/);
  });
});
