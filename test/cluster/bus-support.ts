// Buses on a test engine (Redis, a Redis Cluster or a memory hub), with receivers that record what arrives.
import { once } from 'node:events';
import { ClusterBus, type BusArrivals } from '../../src/cluster/bus.js';
import { openRedisLinks } from '../../src/cluster/redis-links.js';
import type { BusLinks } from '../../src/cluster/links.js';
import type { ClusterMode } from '../../src/cluster/cluster-options.js';
import type { MemoryHub } from '../../src/cluster/memory-links.js';
import { redisTarget } from '../../src/auth/redis-target.js';
import { withTimeout } from '../kit/wait.js';

export class RecordingReceiver implements BusArrivals {
  readonly published: { key: string; msg: string; budget: number }[] = [];
  readonly unicasts: { cid: string; msg: string }[] = [];
  readonly everyoneMsgs: string[] = [];

  deliverPublish(key: string, msg: Buffer, budget: number): void {
    this.published.push({ key, msg: msg.toString('utf8'), budget });
  }

  deliverUnicast(cid: string, msg: Buffer): void {
    this.unicasts.push({ cid, msg: msg.toString('utf8') });
  }

  deliverEveryone(msg: Buffer): void {
    this.everyoneMsgs.push(msg.toString('utf8'));
  }

  async answer(op: string, arg: string, node: string): Promise<string> {
    return `${op}:${arg}:from:${node}`;
  }
}

/** Where a test bus runs: Redis (standalone or sharded, at `url`) or a memory hub. */
export type BusPlace = { url: string; mode: ClusterMode } | { hub: MemoryHub };

export async function openBus(place: BusPlace, nodeId: string, prefix: string): Promise<{ bus: ClusterBus; rx: RecordingReceiver }> {
  const rx = new RecordingReceiver();
  const links: BusLinks = 'hub' in place ? place.hub.links() : openRedisLinks(redisTarget(place.url, {}), place.mode, nodeId);
  const bus = new ClusterBus(links, nodeId, prefix, rx, (op, arg, node) => rx.answer(op, arg, node));
  if (!bus.isReady) await withTimeout(once(bus.events, 'ready'), 10_000, `bus ${nodeId} ready`);
  return { bus, rx };
}

/** Waits until every bus has every interest change acknowledged by its engine. */
export async function settle(...buses: ClusterBus[]): Promise<void> {
  await Promise.all(buses.map((bus) => bus.flush()));
}
