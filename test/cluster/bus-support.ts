// Buses on a test Redis, with receivers that record what arrives.
import { once } from 'node:events';
import { ClusterBus, type BusReceiver } from '../../src/cluster/bus.js';
import { openLinks } from '../../src/cluster/redis-links.js';
import type { ClusterMode } from '../../src/cluster/cluster-options.js';
import { redisTarget } from '../../src/auth/redis-target.js';
import { withTimeout } from '../kit/wait.js';

export class RecordingReceiver implements BusReceiver {
  readonly published: { key: string; msg: string; budget: number }[] = [];
  readonly unicasts: { cid: string; msg: string }[] = [];
  readonly everyoneMsgs: string[] = [];

  publish(key: string, msg: Buffer, budget: number): void {
    this.published.push({ key, msg: msg.toString('utf8'), budget });
  }

  unicast(cid: string, msg: Buffer): void {
    this.unicasts.push({ cid, msg: msg.toString('utf8') });
  }

  everyone(msg: Buffer): void {
    this.everyoneMsgs.push(msg.toString('utf8'));
  }

  async request(op: string, arg: string, node: string): Promise<string> {
    return `${op}:${arg}:from:${node}`;
  }
}

export async function openBus(url: string, mode: ClusterMode, nodeId: string, prefix: string): Promise<{ bus: ClusterBus; rx: RecordingReceiver }> {
  const rx = new RecordingReceiver();
  const links = openLinks(redisTarget(url, {}), mode, nodeId);
  const bus = new ClusterBus(links, nodeId, prefix, rx);
  if (!bus.isReady) await withTimeout(once(bus.events, 'ready'), 10_000, `bus ${nodeId} ready`);
  return { bus, rx };
}

/** Waits until every bus has every interest change acknowledged by Redis. */
export async function settle(...buses: ClusterBus[]): Promise<void> {
  await Promise.all(buses.map((bus) => bus.flush()));
}
