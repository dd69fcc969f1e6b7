// Cluster nodes with a recording host, for tests below the broker.
import type { ClusterHost } from '../../src/cluster/cluster-host.js';
import { ClusterNode } from '../../src/cluster/cluster-node.js';
import { resolveClusterOptions, type ClusterMode } from '../../src/cluster/cluster-options.js';

export class FakeHost implements ClusterHost {
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
  deliverUnicast(cid: string, msg: Buffer): void {
    this.unicasts.push({ cid, msg });
  }
  deliverEveryone(msg: Buffer): void {
    this.everyone.push(msg);
  }
  async probeCid(cid: string): Promise<boolean> {
    return this.held.has(cid) && this.liveSessions;
  }
  async evictCid(cid: string): Promise<void> {
    this.evicted.push(cid);
    this.held.delete(cid);
  }
  retainedOf(): Buffer | undefined {
    return undefined;
  }
  localCids(): string[] {
    return [...this.held];
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

/** Short heartbeat and lease so failure tests finish in a few seconds. */
export async function startNode(url: string, id: string, prefix: string, mode: ClusterMode = 'standalone'): Promise<TestNode> {
  const host = new FakeHost();
  const options = resolveClusterOptions({ url, mode, nodeId: id, prefix, heartbeatMs: 200, leaseMs: 800 }, {});
  const node = new ClusterNode(options, host);
  if (!(await node.waitReady(10_000))) throw new Error(`node ${id} did not reach Redis`);
  return { node, host };
}

/** Gives a CID to the fake host as the broker would. */
export function hold(t: TestNode, cid: string): void {
  t.host.held.add(cid);
  t.node.cidAssigned(cid);
}
