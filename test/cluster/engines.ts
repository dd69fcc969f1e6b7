// The engines the cluster's rule tests run on: a memory hub (always, no redis-server needed) and a real
// redis-server (skipped, with the reason, only when it is missing and CI is not 'true'). Each run gives the
// cluster input of a node, a look at the shared store, and a way to put raw bytes on the bus as a hostile member.
import { Redis } from 'ioredis';
import type { ClusterOptionsInput } from '../../src/cluster/cluster-options.js';
import { MemoryHub } from '../../src/cluster/memory-links.js';
import { RedisServerProcess, redisSkipReason } from '../kit/redis-server.js';

export interface BusEngineRun {
  /** A node's cluster input: short heartbeat and lease, so failure tests finish in a few seconds. */
  input(prefix: string, nodeId: string, extra?: ClusterOptionsInput): ClusterOptionsInput;
  /** The redis-server (the Redis engine only: outage tests stop and restart it). */
  readonly redis: RedisServerProcess | null;
  /** True when the shared store holds `key`. */
  stored(key: string): Promise<boolean>;
  /** Puts `payload` on bus channel `channel` as is. */
  inject(channel: string, payload: Buffer): Promise<void>;
  stop(): Promise<void>;
}

export interface TestBusEngine {
  readonly name: 'memory hub' | 'Redis';
  /** For suite names: "routing … on a memory hub" / "… on Redis". */
  readonly label: string;
  readonly skip: string | false;
  start(): Promise<BusEngineRun>;
}

const SHORT = { heartbeatMs: 200, leaseMs: 800 };

export const MEMORY_ENGINE: TestBusEngine = {
  name: 'memory hub',
  label: 'a memory hub',
  skip: false,
  async start() {
    const hub = new MemoryHub();
    return {
      input: (prefix, nodeId, extra = {}) => ({ hub, prefix, nodeId, ...SHORT, ...extra }),
      redis: null,
      stored: async (key) => hub.state.exists(key),
      inject: async (channel, payload) => void hub.publish(channel, payload),
      stop: async () => undefined,
    };
  },
};

export const REDIS_ENGINE: TestBusEngine = {
  name: 'Redis',
  label: 'Redis',
  skip: redisSkipReason(),
  async start() {
    const redis = await RedisServerProcess.start();
    const commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    commands.on('error', () => undefined);
    return {
      input: (prefix, nodeId, extra = {}) => ({ url: redis.url, prefix, nodeId, ...SHORT, ...extra }),
      redis,
      stored: async (key) => (await commands.exists(key)) === 1,
      inject: async (channel, payload) => void (await commands.publish(Buffer.from(channel), payload)),
      async stop() {
        commands.disconnect();
        await redis.stop();
      },
    };
  },
};

/** Every rule suite runs once per engine. */
export const BUS_ENGINES: readonly TestBusEngine[] = [MEMORY_ENGINE, REDIS_ENGINE];

/** The skip of a test that stops and restarts Redis: a memory hub has no outage to survive. */
export function NO_OUTAGE(engine: TestBusEngine): string | false {
  return engine.name === 'memory hub' ? 'a memory hub has no outage (the Redis run covers it)' : false;
}
