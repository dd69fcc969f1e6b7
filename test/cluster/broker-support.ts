// Two (or more) in-process iosig servers joined by a cluster bus on a test engine (engines.ts).
import type { IosigServer, ServerOptionsInput } from '../../src/index.js';
import { startServer } from '../kit/server.js';
import { waitFor } from '../kit/wait.js';
import { REDIS_ENGINE, type BusEngineRun, type TestBusEngine } from './engines.js';

let nodeN = 0;

/** A server that is one node of cluster `prefix` on `run` (short heartbeat and lease for failure tests). */
export async function startNodeServer(run: BusEngineRun, prefix: string, opts: ServerOptionsInput = {}, lines?: string[]): Promise<IosigServer> {
  return startServer({ ...opts, cluster: run.input(prefix, `node${++nodeN}`) }, lines);
}

/** A private engine and two nodes of cluster `prefix` on it, with one call to stop all three. */
export interface TwoNodes {
  a: IosigServer;
  b: IosigServer;
  run: BusEngineRun;
  stop(): Promise<void>;
}

export async function startTwoNodes(prefix: string, opts: ServerOptionsInput = {}, engine: TestBusEngine = REDIS_ENGINE): Promise<TwoNodes> {
  const run = await engine.start();
  const a = await startNodeServer(run, prefix, opts);
  const b = await startNodeServer(run, prefix, opts);
  return {
    a,
    b,
    run,
    async stop() {
      await a.close();
      await b.close();
      await run.stop();
    },
  };
}

import { clusterOf } from '../kit/inside.js';

export { clusterOf };

/** Waits until every other server knows that `server`'s clients want `key` (interest has propagated). */
export async function interestKnown(key: string, others: IosigServer[]): Promise<void> {
  await waitFor(() => others.every((s) => clusterOf(s).node.bus.remoteWants(key)), 5000, `interest in ${key} to propagate`);
}

/** Waits until every subscription change (channel interests, CID channels) of these nodes is confirmed by the engine. */
export async function settled(...servers: IosigServer[]): Promise<void> {
  await Promise.all(servers.map((s) => clusterOf(s).node.bus.flush()));
}
