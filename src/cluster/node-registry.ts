// Who is in the cluster: each node renews a lease key with its status every heartbeat and lists the CIDs it
// holds in a set of the cluster store (links.ts: Redis, or the memory state of a hub or of the workers' primary).
// A node whose lease expired is dead: one survivor (a short lock decides which) reaps it —
// publishes its devices' close notices, releases their claims and forgets it.
import type { ClusterStore } from './links.js';
import type { NodeStatus } from '../metrics/cluster-sample.js';

export type { NodeStatus };

export interface RegistryHooks {
  status(): NodeStatus;
  /** Side jobs of every heartbeat (bus round-trip probe, CID slot renewal). */
  beat(): Promise<void>;
  /** Our lease was missing (Redis restarted, or we were presumed dead): write back everything we hold. */
  restore(): Promise<void>;
  /** A dead node's CIDs: publish their close notices and release their claims. */
  reap(node: string, cids: string[]): Promise<void>;
  log(line: string): void;
}

const REAP_LOCK_MS = 60_000;
const CID_BATCH = 1000;

export class NodeRegistry {
  private timer: NodeJS.Timeout | null = null;
  private registered = false;
  /** When the store last became reachable: reaping waits a lease after it, so every live node had time to renew. */
  private upSince = 0;
  private beating: Promise<void> | null = null;

  constructor(
    private readonly store: ClusterStore,
    private readonly prefix: string,
    private readonly nodeId: string,
    private readonly heartbeatMs: number,
    private readonly leaseMs: number,
    private readonly hooks: RegistryHooks,
  ) {}

  nodeKey(node: string): string {
    return `${this.prefix}:node:${node}`;
  }

  cidsKey(node: string): string {
    return `${this.prefix}:cids:${node}`;
  }

  private get nodesKey(): string {
    return `${this.prefix}:nodes`;
  }

  start(): void {
    this.timer = setInterval(() => void this.beat(), this.heartbeatMs);
    this.timer.unref();
  }

  /** The store became reachable again. */
  linkUp(): void {
    this.upSince = Date.now();
    void this.beat();
  }

  linkDown(): void {
    this.upSince = 0;
  }

  /** One heartbeat: renew the lease (restoring our state if it had vanished), then look for dead nodes. */
  beat(): Promise<void> {
    if (!this.upSince) return Promise.resolve();
    this.beating ??= this.renew().finally(() => {
      this.beating = null;
    });
    return this.beating;
  }

  private async renew(): Promise<void> {
    try {
      const previous = await this.store.lease(this.nodeKey(this.nodeId), JSON.stringify(this.hooks.status()), this.leaseMs);
      await this.store.addMembers(this.nodesKey, [this.nodeId]);
      if (previous === null && this.registered) {
        this.hooks.log('cluster: our lease had expired (Redis restarted or we were unreachable); restoring our CIDs');
      }
      if (previous === null) await this.hooks.restore();
      this.registered = true;
      await this.hooks.beat();
      if (Date.now() - this.upSince >= this.leaseMs + this.heartbeatMs) await this.reapDead();
    } catch {
      // the store went away mid-beat; the next 'up' starts again.
    }
  }

  private async reapDead(): Promise<void> {
    const nodes = await this.store.members(this.nodesKey);
    for (const node of nodes) {
      if (node === this.nodeId) continue;
      if (await this.store.exists(this.nodeKey(node))) continue;
      if (!(await this.store.take(`${this.prefix}:reap:${node}`, this.nodeId, REAP_LOCK_MS))) continue;
      const cids = await this.store.members(this.cidsKey(node));
      this.hooks.log(`cluster: node ${node} stopped renewing its lease; releasing its ${cids.length} CIDs`);
      await this.hooks.reap(node, cids);
      await this.store.del(this.cidsKey(node));
      await this.store.removeMember(this.nodesKey, node);
    }
  }

  /** Every live node's last status record. */
  async nodes(): Promise<NodeStatus[]> {
    const ids = await this.store.members(this.nodesKey);
    const records = await Promise.all(ids.map((id) => this.store.get(this.nodeKey(id))));
    const out: NodeStatus[] = [];
    for (const record of records) {
      if (!record) continue;
      try {
        out.push(JSON.parse(record) as NodeStatus);
      } catch {
        // another program's key; skip it
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async isAlive(node: string): Promise<boolean> {
    return this.store.exists(this.nodeKey(node));
  }

  /** The CIDs a node holds (for `sudo cid` across nodes). */
  cidsOf(node: string): Promise<string[]> {
    return this.store.members(this.cidsKey(node));
  }

  addCid(cid: string): void {
    this.store.addMembers(this.cidsKey(this.nodeId), [cid]).catch(() => undefined);
  }

  removeCid(cid: string): void {
    this.store.removeMember(this.cidsKey(this.nodeId), cid).catch(() => undefined);
  }

  /** Writes our whole CID set again (after the store lost it). */
  async rewriteCids(cids: string[]): Promise<void> {
    await this.store.del(this.cidsKey(this.nodeId));
    for (let i = 0; i < cids.length; i += CID_BATCH) await this.store.addMembers(this.cidsKey(this.nodeId), cids.slice(i, i + CID_BATCH));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.upSince = 0;
  }

  /** Clean shutdown: our CIDs are closed by our own connections; just leave. */
  async leave(): Promise<void> {
    this.stop();
    await Promise.all([this.store.del(this.nodeKey(this.nodeId)), this.store.del(this.cidsKey(this.nodeId)), this.store.removeMember(this.nodesKey, this.nodeId)]);
  }
}
