// A broker's membership of a cluster (ClusterMembership, broker/broker.ts): the node (bus, lease, CID space and
// directory), the remote-nodes delivery group, and the channel-retained values shared through the engine's store.
// It reaches the broker only through its ClusterPort (port.ts); the router never sees it.
import type { ClusterMembership } from '../broker/broker.js';
import type { ClusterClaim } from '../broker/cid-claims.js';
import type { Stats } from '../metrics/stats.js';
import type { ClusterSample } from '../metrics/cluster-sample.js';
import type { Outbound, Publisher } from '../delivery/outbound.js';
import { isRetainedKey, CID_PREFIX } from '../router/tags.js';
import { ClusterNode } from './cluster-node.js';
import type { ClusterPort } from './port.js';
import type { ClusterOptions } from './cluster-options.js';
import { RemoteNodesGroup } from './remote-group.js';
import type { InterestChange } from './remote-interest.js';
import { decodeRetained, encodeRetained } from './envelope.js';

/** How often channel-retained values published here are written to the store for late subscribers on other nodes. */
const RETAINED_SYNC_MS = 100;

export class BrokerCluster implements ClusterMembership {
  readonly node: ClusterNode;
  readonly group: RemoteNodesGroup;
  /** The stamp of each channel-retained value as last written to the store, by key. */
  private readonly synced = new Map<string, number>();
  private readonly syncTimer: NodeJS.Timeout;
  private syncing = false;

  /** `stats`: where the remote-nodes group counts its deliveries (the broker's one Stats). */
  constructor(
    private readonly port: ClusterPort,
    options: ClusterOptions,
    stats: Stats,
  ) {
    this.node = new ClusterNode(options, port);
    const { bus } = this.node;
    this.group = new RemoteNodesGroup(bus, stats);
    bus.events.on('remote-interest', ({ key, present }: InterestChange) => {
      if (present) port.remoteMembers(key, this.group.membersFor(key), true);
      else {
        const members = this.group.drop(key);
        if (members) port.remoteMembers(key, members, false);
      }
    });
    this.syncTimer = setInterval(() => void this.syncRetained(), RETAINED_SYNC_MS);
    this.syncTimer.unref();
  }

  private retainedKey(key: string): string {
    return `${this.node.options.prefix}:r:${key}`;
  }

  // ---- what the broker's router tells ------------------------------------------------------------

  interest(key: string, present: boolean): void {
    const { bus } = this.node;
    if (!present) return bus.removeInterest(key);
    bus.addInterest(key);
    if (isRetainedKey(key)) void this.fetchRetained(key);
  }

  cidHeld(cid: string, held: boolean): void {
    if (held) this.node.cidAssigned(cid);
    else this.node.cidReleased(cid);
  }

  unicast(cid: string, out: Outbound): void {
    this.node.bus.unicast(cid, out.msg, out.publisher, out.owner);
  }

  anonymousCid(): string {
    return this.node.anonymousCandidate();
  }

  /** A first local subscriber of a retained key: the value may live on another node (or in the store). */
  private async fetchRetained(key: string): Promise<void> {
    const at = key.indexOf('@');
    let msg: Buffer | undefined;
    let publisher: Publisher;
    try {
      if (at < 0) {
        const stored = await this.node.store.getBuffer(this.retainedKey(key));
        const value = stored ? decodeRetained(stored) : null;
        if (!value) return;
        ({ msg, publisher } = value);
      } else {
        const cid = key.slice(CID_PREFIX.length, at);
        if (!key.startsWith(CID_PREFIX) || this.port.holdsCid(cid)) return;
        msg = await this.node.fetchCidRetained(cid, key.slice(at + 1));
        if (!msg) return;
        publisher = cid;
      }
    } catch {
      return; // the store away: late subscribers on this node miss the retained value (documented)
    }
    // Whoever subscribes locally by now gets it, as they would have on the publisher's node.
    this.port.deliverStored(key, msg, publisher);
  }

  /** Writes channel-retained values published here to the store. Bounded by the retained store's limit. */
  private async syncRetained(): Promise<void> {
    if (this.syncing || !this.node.bus.isReady) return;
    this.syncing = true;
    try {
      for (const [key, msg, publisher, stamp] of this.port.localRetained()) {
        if (this.synced.get(key) === stamp) continue;
        this.synced.set(key, stamp);
        await this.node.store.set(this.retainedKey(key), encodeRetained(msg, publisher));
      }
    } catch {
      // retried on the next tick for what changed since
    } finally {
      this.syncing = false;
    }
  }

  // ---- what the broker asks -------------------------------------------------------------------

  /** For /metrics, /api/status and the dashboard. */
  sample(): ClusterSample {
    const { bus } = this.node;
    const s = bus.stats;
    const nodes = this.node.knownNodes;
    return {
      node: this.node.nodeId,
      ready: bus.isReady,
      published: s.published,
      redisDeliveries: s.redisDeliveries,
      redisMessagesIn: s.redisMessages,
      redisMessagesOut: s.redisMessagesOut,
      controlSent: s.controlSent,
      received: s.received,
      echoes: s.echoes,
      dropped: s.dropped,
      droppedBy: { ...s.droppedBy },
      gaps: s.gaps,
      gapsBySender: Object.fromEntries(bus.gaps.bySender),
      disconnects: { ...s.disconnects },
      busRate: this.node.options.busRate,
      malformed: s.malformed,
      resubscribes: s.resubscribes,
      lagMs: s.lagMs,
      maxLagMs: s.maxLagMs,
      remoteKeys: bus.remote.keyCount,
      localInterests: bus.localInterestCount,
      nodes,
      totals: {
        nodes: nodes.length,
        connections: nodes.reduce((n, x) => n + x.connections, 0),
        dropped: nodes.reduce((n, x) => n + x.dropped, 0),
        gaps: nodes.reduce((n, x) => n + (x.gaps ?? 0), 0),
      },
    };
  }

  /** SERVER_SIGNAL or "send to every device": the other nodes' connections too. */
  everyone(msg: Uint8Array): void {
    this.node.bus.everyone(msg);
  }

  /** Every CID online on any node, sorted; null when the store cannot be asked. */
  async allCids(): Promise<string[] | null> {
    try {
      const byNode = await this.node.allCids();
      return [...byNode.values()].flat().sort();
    } catch {
      return null;
    }
  }

  /** A login wants `cid`, held by no local session. */
  claimLogin(cid: string): Promise<ClusterClaim> {
    return this.node.claimLogin(cid, this.port.duplicateLogin);
  }

  async close(): Promise<void> {
    clearInterval(this.syncTimer);
    await this.syncRetained();
    await this.node.close();
  }
}
