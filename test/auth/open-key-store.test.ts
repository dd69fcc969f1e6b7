// openKeyStore: -d, then -e, then -E, then -r; the first one given wins (§9.2).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKeyStore } from '../../src/auth/index.js';

const dir = mkdtempSync(join(tmpdir(), 'iosig-open-'));
const file = join(dir, 'keys.json');
writeFileSync(file, JSON.stringify([['f1', 'k', 'F1', 1]]));
const quiet = (): void => undefined;
const env = { BOHO_AUTH: 'e1.k.E1.1' };

describe('openKeyStore', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('returns null when no source is given (authentication off)', async () => {
    assert.equal(await openKeyStore({}, quiet, env), null);
    assert.equal(await openKeyStore({ env: false, redis: false }, quiet, env), null);
  });

  it('prefers -d over everything else', async () => {
    const store = await openKeyStore({ file, param: 'p1.k.P1.1', env: true, redis: true }, quiet, env);
    assert.equal(store?.kind, 'file');
    assert.deepEqual(await store?.list(), ['f1']);
    await store?.close();
  });

  it('prefers -e over -E and -r', async () => {
    const store = await openKeyStore({ param: 'p1.k.P1.1', env: true, redis: true }, quiet, env);
    assert.equal(store?.kind, 'param');
    assert.deepEqual(await store?.list(), ['p1']);
  });

  it('prefers -E over -r, reading BOHO_AUTH from the given environment', async () => {
    const store = await openKeyStore({ env: true, redis: true }, quiet, env);
    assert.equal(store?.kind, 'env');
    assert.deepEqual(await store?.list(), ['e1']);
  });

  it('rejects an invalid chosen source', async () => {
    await assert.rejects(openKeyStore({ param: 'p1..P1' }, quiet, env), /empty key/);
    await assert.rejects(openKeyStore({ env: true }, quiet, {}), /BOHO_AUTH is not set/);
    await assert.rejects(openKeyStore({ file: join(dir, 'none.json') }, quiet, env), /not found/);
  });
});
