// The child process of crash.test.ts: writes to a store as fast as turns go, and says on stdout (a pipe: writes
// are synchronous) which turn is durable after each commit. Every turn t writes, as one would-be publish each:
//   - retained `CH:turn$` = t and `CH:r<t % 50>$` = t,
//   - one history append on `CH:chat` (so offset t holds `m<t>`),
//   - a session snapshot of client `c`: (t % 5) + 1 queued deliveries, each carrying t,
// so after a kill every record must name the same turn (nothing half-written) and that turn must be at least the
// last one announced durable.
//   node crash-writer.js lmdb <dir>   |   node crash-writer.js redis <url>
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { ChannelHistory } from '../../src/history/channel-history.js';
import { HistoryPolicy } from '../../src/history/policy.js';
import { DurableSessions } from '../../src/mqtt/durable-sessions.js';
import type { StoredDelivery } from '../../src/mqtt/port.js';
import type { BufferedStore } from '../../src/store/buffered-store.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { RedisStore } from '../../src/store/redis-store.js';

export const CRASH_POLICY = ['chat=1000000'];

async function main(): Promise<void> {
  const [kind, where] = process.argv.slice(2);
  let store: BufferedStore;
  if (kind === 'lmdb') store = LmdbStore.open(where!);
  else {
    const redis = new Redis(where!, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 20, 200) });
    redis.on('error', () => undefined);
    store = await RedisStore.open(redis, where!, { prefix: 'crash' });
  }
  const history = new ChannelHistory({
    policy: HistoryPolicy.parse(CRASH_POLICY),
    store,
    onDurable: (_key, position) => process.stdout.write(`D ${position.offset}\n`),
  });
  await store.load({ log: (log, meta, entries) => history.restore(log, meta, entries) });
  const sessions = new DurableSessions(store);
  let t = history.position('CH:chat')?.offset ?? 0;
  process.stdout.write(`READY ${t}\n`);
  const turn = (): void => {
    t++;
    const text = Buffer.from(String(t));
    store.putRetained('CH:turn$', { msg: text, owner: 'd:crash' });
    store.putRetained(`CH:r${t % 50}$`, { msg: text, owner: null });
    const offset = history.append('CH:chat', Buffer.from(`m${t}`))!.offset;
    if (offset !== t) throw new Error(`offset ${offset} for turn ${t}`);
    const queue: StoredDelivery[] = [];
    for (let i = 0; i <= t % 5; i++) queue.push({ topic: 'x', payload: text, qos: 1, retain: false, subscriptionIds: [], view: 'as-is' });
    sessions.put({ clientId: 'c', expiry: 60, disconnectedAt: t, subscriptions: [], inflight: [], queue, inboundQos2: [] });
    // Keep a bounded distance ahead of the store, so the kill lands mid-traffic rather than on a huge backlog.
    if (store.stats().pendingBytes > 1 << 20) setTimeout(turn, 5);
    else setImmediate(turn);
  };
  turn();
}

// Run only as the child process (crash.test.ts imports CRASH_POLICY from here).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`crash-writer: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
