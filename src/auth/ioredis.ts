// ioredis, loaded on first use: most servers run without Redis, and loading the client costs about 0.1 s of CPU at
// every start (each io-server of the test suite, each --workers worker). Types come from the static import.
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';

const requireCjs = createRequire(import.meta.url);
let loaded: typeof IORedis | null = null;

export function ioredis(): typeof IORedis {
  loaded ??= requireCjs('ioredis') as typeof IORedis;
  return loaded;
}
