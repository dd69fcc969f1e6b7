// The store rules (store-rules.ts) on each store: memory, LMDB in a temporary directory, Redis with append-only
// persistence on its own port.
import { after, before, describe } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import type { Redis } from 'ioredis';
import { MemoryStore, MemoryVolume } from '../../src/store/memory-store.js';
import { LmdbStore, STORE_FILE } from '../../src/store/lmdb-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { storeRules } from './store-rules.js';
import { DurableRedis, redisSkipReason } from './durable-redis.js';

describe('stores', () => {
  let volume = new MemoryVolume();
  storeRules('memory', {
    open: async () => new MemoryStore({ volume, version: 'test' }),
    reset: async () => {
      volume = new MemoryVolume();
    },
    damageRetained: async (key) => {
      volume.retained.set(key, Buffer.from([9, 9, 9]));
    },
    crashIsUnclean: true,
  });

  const root = mkdtempSync(join(tmpdir(), 'iosig-lmdb-rules-'));
  let dir = join(root, 'd0');
  let runs = 0;
  after(() => rmSync(root, { recursive: true, force: true }));
  storeRules('lmdb', {
    open: async () => LmdbStore.open(dir, { version: 'test' }),
    reset: async () => {
      dir = join(root, `d${++runs}`);
    },
    damageRetained: async (key) => {
      const env = open({ path: join(dir, STORE_FILE), noSubdir: true, maxDbs: 8 });
      await env.openDB({ name: 'retained', encoding: 'binary' }).put(key, Buffer.from([0xff, 0]));
      await env.close();
    },
    crashIsUnclean: true,
  });

  describe('on Redis', { skip: redisSkipReason() }, () => {
    let server: DurableRedis;
    let client: Redis;
    before(async () => {
      server = await DurableRedis.start();
      client = server.client();
    });
    after(async () => {
      client?.disconnect();
      await server?.destroy();
    });
    storeRules('redis', {
      open: () => RedisStore.open(client, server.url, { prefix: 'itest', version: 'test' }),
      reset: async () => {
        await client.flushall();
      },
      damageRetained: async (key) => {
        await client.hset('itest:ret', key, Buffer.from([0xff]));
      },
      crashIsUnclean: false,
    });
  });
});
