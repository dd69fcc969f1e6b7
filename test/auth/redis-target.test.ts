// Where -r connects (Q17): explicit URL, REDIS_URL, REDIS_HOST/REDIS_PORT, default localhost:6379.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redisTarget } from '../../src/auth/redis-target.js';

describe('redisTarget', () => {
  it('defaults to localhost:6379', () => {
    assert.deepEqual(redisTarget(undefined, {}), { host: 'localhost', port: 6379, label: 'localhost:6379' });
  });

  it('honours REDIS_HOST and REDIS_PORT', () => {
    assert.deepEqual(redisTarget(undefined, { REDIS_HOST: '10.0.0.5', REDIS_PORT: '6380' }), {
      host: '10.0.0.5',
      port: 6380,
      label: '10.0.0.5:6380',
    });
    assert.throws(() => redisTarget(undefined, { REDIS_PORT: 'abc' }), /REDIS_PORT must be a port number/);
  });

  it('prefers an explicit URL over REDIS_URL over REDIS_HOST, and never puts a password in the label', () => {
    const env = { REDIS_URL: 'redis://:envpass@envhost:7000/2', REDIS_HOST: 'ignored' };
    const fromEnv = redisTarget(undefined, env);
    assert.equal(fromEnv.label, 'redis://envhost:7000/2');
    assert.equal(fromEnv.url, env.REDIS_URL);
    const explicit = redisTarget('redis://user:secret@127.0.0.1:7001', env);
    assert.equal(explicit.label, 'redis://127.0.0.1:7001');
    assert.equal(explicit.port, 7001);
    assert.ok(!explicit.label.includes('secret'));
  });

  it('rejects URLs that are not redis URLs', () => {
    assert.throws(() => redisTarget('not a url', {}), /not valid/);
    assert.throws(() => redisTarget('http://host:1', {}), /redis:\/\//);
  });
});
