// Two (or more) in-process iosig servers joined by a cluster bus on a test Redis.
import type { IosigServer, ServerOptionsInput } from '../../src/index.js';
import { startServer } from '../kit/server.js';
import { waitFor } from '../kit/wait.js';
import { RedisServerProcess } from '../kit/redis-server.js';

let nodeN = 0;

/** A server that is one node of cluster `prefix` (short heartbeat and lease for failure tests). */
export async function startNodeServer(url: string, prefix: string, opts: ServerOptionsInput = {}, lines?: string[]): Promise<IosigServer> {
  const nodeId = `node${++nodeN}`;
  return startServer({ ...opts, cluster: { url, prefix, nodeId, heartbeatMs: 200, leaseMs: 800 } }, lines);
}

/** A private redis-server and two nodes of cluster `prefix` on it, with one call to stop all three. */
export interface TwoNodes {
  a: IosigServer;
  b: IosigServer;
  stop(): Promise<void>;
}

export async function startTwoNodes(prefix: string, opts: ServerOptionsInput = {}): Promise<TwoNodes> {
  const redis = await RedisServerProcess.start();
  const a = await startNodeServer(redis.url, prefix, opts);
  const b = await startNodeServer(redis.url, prefix, opts);
  return {
    a,
    b,
    async stop() {
      await a.close();
      await b.close();
      await redis.stop();
    },
  };
}

import { clusterOf } from '../kit/inside.js';

export { clusterOf };

/** Waits until every other server knows that `server`'s clients want `key` (interest has propagated). */
export async function interestKnown(key: string, others: IosigServer[]): Promise<void> {
  await waitFor(() => others.every((s) => clusterOf(s).node.bus.remoteWants(key)), 5000, `interest in ${key} to propagate`);
}

/** Waits until every subscription change (channel interests, CID channels) of these nodes is confirmed by Redis. */
export async function settled(...servers: IosigServer[]): Promise<void> {
  await Promise.all(servers.map((s) => clusterOf(s).node.bus.flush()));
}
