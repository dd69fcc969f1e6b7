// Cluster nodes with a recording port in place of a broker, for tests below the broker.
import type { ClusterPort } from '../../src/cluster/port.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { resolveClusterOptions } from '../../src/cluster/cluster-options.js';
import type { ChannelMembers } from '../../src/delivery/group.js';
import type { Publisher } from '../../src/delivery/outbound.js';
import type { BusEngineRun } from './engines.js';

export class FakeHost implements ClusterPort {
  readonly duplicateLogin = 'keep-old' as const;
  readonly published: { key: string; msg: Buffer; budget: number }[] = [];
  readonly unicasts: { cid: string; msg: Buffer }[] = [];
  readonly everyone: Buffer[] = [];
  readonly held = new Set<string>();
  /** What probeCid answers for a held CID. */
  liveSessions = true;
  readonly evicted: string[] = [];
  readonly lines: string[] = [];

  deliverPublish(key: string, msg: Buffer, budget: number): void {
    this.published.push({ key, msg, budget });
  }
  deliverStored(key: string, msg: Buffer): void {
    this.published.push({ key, msg, budget: -1 });
  }
  deliverUnicast(cid: string, msg: Buffer): void {
    this.unicasts.push({ cid, msg });
  }
  deliverEveryone(msg: Buffer): void {
    this.everyone.push(msg);
  }
  remoteMembers(_key: string, _members: ChannelMembers, _present: boolean): void {}
  async probeCid(cid: string): Promise<boolean> {
    return this.held.has(cid) && this.liveSessions;
  }
  evictCid(cid: string): void {
    this.evicted.push(cid);
    this.held.delete(cid);
  }
  retainedOf(): Buffer | undefined {
    return undefined;
  }
  holdsCid(cid: string): boolean {
    return this.held.has(cid);
  }
  localCids(): string[] {
    return [...this.held];
  }
  localRetained(): Iterable<[string, Buffer, Publisher, number]> {
    return [];
  }
  connectionCount(): number {
    return this.held.size;
  }
  address(): string {
    return '127.0.0.1:0';
  }
  log(line: string): void {
    this.lines.push(line);
  }
}

export interface TestNode {
  node: ClusterNode;
  host: FakeHost;
}

/** A node of cluster `prefix` on `run` (short heartbeat and lease so failure tests finish in a few seconds). */
export async function startNode(run: BusEngineRun, id: string, prefix: string): Promise<TestNode> {
  const host = new FakeHost();
  const node = new ClusterNode(resolveClusterOptions(run.input(prefix, id), {}), host);
  if (!(await node.waitReady(10_000))) throw new Error(`node ${id} did not reach its bus`);
  return { node, host };
}

/** Gives a CID to the fake host as the broker would. */
export function hold(t: TestNode, cid: string): void {
  t.host.held.add(cid);
  t.node.cidAssigned(cid);
}
