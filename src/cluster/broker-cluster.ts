// Plugs a ClusterNode into a broker through the router's extension points (router/extension.ts): the remote
// nodes group, interest and CID hooks, the CID directory, and what arrives from the bus. The router is unchanged.

import type { DuplicateLoginPolicy } from '../policies.js';
import type { Router } from '../router/router.js';
import type { Subscriber } from '../router/channel.js';
import { isRetainedKey, CID_PREFIX } from '../router/tags.js';
import { ClusterNode, type ClaimResult } from './cluster-node.js';
import type { ClusterHost } from './cluster-host.js';
import type { ClusterOptions } from './cluster-options.js';
import { RemoteNodesGroup } from './remote-group.js';
import type { InterestChange } from './remote-interest.js';
import type { ClusterSample } from '../metrics/cluster-sample.js';
import type { Publisher } from '../delivery/outbound.js';
import { decodeRetained, encodeRetained } from './envelope.js';

/** What the cluster needs from the broker (broker/cluster-side.ts). */
export interface ClusterBroker {
  readonly router: Router<Subscriber>;
  readonly duplicateLogin: DuplicateLoginPolicy;
  connectionCount(): number;
  address(): string;
  /** Bytes to every local connection (sealed per encrypted session); returns receivers. */
  broadcastLocal(msg: Uint8Array): number;
  /** Keep-old across nodes: true if a live local session holds `cid` (a stale one is closed first). */
  probeCid(cid: string): Promise<boolean>;
  /** Replace across nodes: AUTH_CLEAR and close the local holder, without a close notice. */
  evictCid(cid: string): void;
  log(line: string): void;
}

/** How often channel-retained messages stored here are written to Redis for late subscribers on other nodes. */
const RETAINED_SYNC_MS = 100;

export class BrokerCluster implements ClusterHost {
  readonly node: ClusterNode;
  readonly group: RemoteNodesGroup;
  /** CID-retained messages of CIDs held elsewhere, for keys local clients subscribe to: `cid@$topic` → msg. */
  private readonly remoteRetained = new Map<string, Buffer>();
  /** Channel-retained messages as last written to (or read from) Redis, by key. */
  private readonly synced = new Map<string, Buffer>();
  private readonly syncTimer: NodeJS.Timeout;
  private syncing = false;

  constructor(
    private readonly broker: ClusterBroker,
    options: ClusterOptions,
  ) {
    this.node = new ClusterNode(options, this);
    const { router } = broker;
    const { bus } = this.node;
    this.group = new RemoteNodesGroup(bus, router.stats);
    router.addHooks({
      interest: (key, present) => this.localInterest(key, present),
      cid: (cid, held) => (held ? this.node.cidAssigned(cid) : this.node.cidReleased(cid)),
    });
    router.directory = {
      unicast: (cid, out) => {
        // Redis finds the node holding it (its CID channel); at-most-once, so no answer is awaited.
        bus.unicast(cid, out.msg, out.publisher, out.owner);
        return true;
      },
      retainedFor: (cid, topic) => this.remoteRetained.get(`${cid}@${topic}`),
      anonymousCid: () => this.node.anonymousCandidate(),
    };
    bus.events.on('remote-interest', ({ key, present }: InterestChange) => {
      if (present) router.attachMembers(key, this.group.membersFor(key));
      else {
        const members = this.group.drop(key);
        if (members) router.detachMembers(key, members);
      }
    });
    this.syncTimer = setInterval(() => void this.syncRetained(), RETAINED_SYNC_MS);
    this.syncTimer.unref();
  }

  private retainedKey(key: string): string {
    return `${this.node.options.prefix}:r:${key}`;
  }

  // ---- local interest ---------------------------------------------------------------------

  private localInterest(key: string, present: boolean): void {
    const { bus } = this.node;
    if (!present) {
      bus.removeInterest(key);
      if (key.startsWith(CID_PREFIX)) this.remoteRetained.delete(key.slice(CID_PREFIX.length));
      return;
    }
    bus.addInterest(key);
    if (isRetainedKey(key)) void this.fetchRetained(key);
  }

  /** A first local subscriber of a retained key: the value may live on another node (or in Redis). */
  private async fetchRetained(key: string): Promise<void> {
    const { router } = this.broker;
    const at = key.indexOf('@');
    let msg: Buffer | undefined;
    let publisher: Publisher;
    try {
      if (at < 0) {
        const stored = await this.node.commands.getBuffer(this.retainedKey(key));
        const value = stored ? decodeRetained(stored) : null;
        if (!value || value.msg.equals(router.retained.get(key) ?? Buffer.alloc(0))) return;
        ({ msg, publisher } = value);
        router.retainForChannel(key, msg, publisher);
        const kept = router.retained.get(key);
        if (kept) this.synced.set(key, kept);
      } else {
        const cid = key.slice(CID_PREFIX.length, at);
        if (!key.startsWith(CID_PREFIX) || router.cids.has(cid)) return;
        msg = await this.node.fetchCidRetained(cid, key.slice(at + 1));
        if (!msg) return;
        publisher = cid;
        this.remoteRetained.set(key.slice(CID_PREFIX.length), msg);
      }
    } catch {
      return; // Redis away: late subscribers on this node miss the retained value (documented)
    }
    // Whoever subscribes locally by now gets it, as they would have on the publisher's node.
    if (router.channels.get(key)?.subscribers.size) router.deliverFromRemote(key, msg, this.group, Infinity, publisher);
  }

  /** Writes channel-retained messages stored here (by local publishes) to Redis. Bounded by the store's limit. */
  private async syncRetained(): Promise<void> {
    if (this.syncing || !this.node.bus.isReady) return;
    this.syncing = true;
    try {
      const { router } = this.broker;
      for (const [key, msg] of router.retained) {
        if (this.synced.get(key) === msg) continue;
        this.synced.set(key, msg);
        await this.node.commands.set(this.retainedKey(key), encodeRetained(msg, router.retainedPublisher(key)));
      }
    } catch {
      // retried on the next tick for what changed since
    } finally {
      this.syncing = false;
    }
  }

  // ---- ClusterHost: what arrives from other nodes -------------------------------------------

  /**
   * `budget` ≥ 0: this node's share of the publisher's publishCounter quota (what its node left after its own
   * subscribers, split among the interested nodes), so the cap holds cluster-wide.
   */
  deliverPublish(key: string, msg: Buffer, budget: number, publisher: Publisher): void {
    const { router } = this.broker;
    if (isRetainedKey(key)) {
      const at = key.indexOf('@');
      if (at < 0) {
        router.retainForChannel(key, msg, publisher);
        const kept = router.retained.get(key);
        if (kept) this.synced.set(key, kept); // written to Redis by its own node
      } else if (key.startsWith(CID_PREFIX)) {
        this.remoteRetained.set(key.slice(CID_PREFIX.length), Buffer.from(msg));
      }
    }
    router.deliverFromRemote(key, msg, this.group, budget >= 0 ? budget : Infinity, publisher);
  }

  deliverUnicast(cid: string, msg: Buffer, publisher: Publisher): void {
    this.broker.router.deliverToCid(cid, msg, publisher);
  }

  deliverEveryone(msg: Buffer): void {
    this.broker.broadcastLocal(msg);
  }

  probeCid(cid: string): Promise<boolean> {
    return this.broker.probeCid(cid);
  }

  async evictCid(cid: string): Promise<void> {
    this.broker.evictCid(cid);
  }

  retainedOf(cid: string, topic: string): Buffer | undefined {
    return this.broker.router.cidRetained(cid, topic);
  }

  localCids(): string[] {
    return [...this.broker.router.cids.keys()];
  }

  connectionCount(): number {
    return this.broker.connectionCount();
  }

  address(): string {
    return this.broker.address();
  }

  log(line: string): void {
    this.broker.log(line);
  }

  // ---- what the broker calls ------------------------------------------------------------------

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

  /** Every CID online on any node, sorted; null when Redis cannot be asked. */
  async allCids(): Promise<string[] | null> {
    try {
      const byNode = await this.node.allCids();
      return [...byNode.values()].flat().sort();
    } catch {
      return null;
    }
  }

  /** A login wants `cid`, held by no local session. */
  claimLogin(cid: string): Promise<ClaimResult> {
    return this.node.claimLogin(cid, this.broker.duplicateLogin);
  }

  async close(): Promise<void> {
    clearInterval(this.syncTimer);
    await this.syncRetained();
    await this.node.close();
  }
}
