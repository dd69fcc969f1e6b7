// Opens the key store the options ask for: -d, then -e, then -E, then -r; the first one given wins (§9.2).
import { FileKeyStore } from './file-store.js';
import { messageOf } from './error-message.js';
import type { AuthLog, KeyStore } from './key-store.js';
import { ParamKeyStore } from './param-store.js';
import { RedisKeyStore } from './redis-store.js';
import { redisTarget } from './redis-target.js';
import type { AuthSource } from '../policies.js';

export { resolveLevel, verifyKeyMaterial } from './key-store.js';
export type { AuthLog, DeviceRecord, KeyStore, KeyStoreKind, ReloadResult } from './key-store.js';
export { FileKeyStore } from './file-store.js';
export { ParamKeyStore } from './param-store.js';
export { RedisKeyStore } from './redis-store.js';

/** How long start-up waits for Redis before going on without it (lookups fail until it is reachable). */
const REDIS_START_WAIT_MS = 2000;

/** null when no source is given (authentication off). Rejects when the chosen source is invalid. */
export async function openKeyStore(spec: AuthSource, log: AuthLog, env: NodeJS.ProcessEnv = process.env): Promise<KeyStore | null> {
  if (spec.file) {
    const store = await FileKeyStore.open(spec.file, { log });
    log(`key store: file ${store.path} (${store.size} keys)`);
    return store;
  }
  if (spec.param) {
    const store = ParamKeyStore.fromList(spec.param, 'param', log);
    log(`key store: -e parameter (${(await store.list()).length} keys)`);
    return store;
  }
  if (spec.env) {
    const store = ParamKeyStore.fromEnv(env, log);
    log(`key store: BOHO_AUTH (${(await store.list()).length} keys)`);
    return store;
  }
  if (spec.redis) {
    const store = new RedisKeyStore(redisTarget(typeof spec.redis === 'string' ? spec.redis : undefined, env), log);
    try {
      await store.ready(REDIS_START_WAIT_MS);
      log(`key store: redis ${store.label}`);
    } catch (err) {
      log(`key store: ${messageOf(err)}; logins fail until it is reachable`);
    }
    return store;
  }
  return null;
}
