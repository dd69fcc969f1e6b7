// One node of an iosig cluster: the bus, the node lease, the anonymous-CID slot and the login-CID directory,
// behind the few calls the broker makes. The engine (Redis, the workers' primary, a memory hub: links.ts) keeps
// the shared state; iosig adds no consensus of its own.

import type { DuplicateLoginPolicy } from '../policies.js';
import { once } from 'node:events';
import { BUS_LIMITS, ClusterBus, type BusGap } from './bus.js';
import { CidClaims } from './cid-claims.js';
import { CidSpace } from './cid-space.js';
import type { ClusterPort } from './port.js';
import type { ClusterOptions } from './cluster-options.js';
import { NodeRegistry, type NodeStatus } from './node-registry.js';
import type { BusLinks, ClusterStore, LinkLoss } from './links.js';
import { openLinks } from './open-links.js';
import type { RedisLinks } from './redis-links.js';
import type { RedisCommands } from './redis-store.js';
import { ThrottledLog } from '../logging/throttled-log.js';
import { encodeSignal } from '../protocol/messages.js';
import { PAYLOAD } from '../protocol/codes.js';

export type ClaimResult = { ok: true } | { ok: false; reason: string };

/** How long a login waits for the holder's node to probe (its --duplicate-probe, 2 s by default) or evict its session. */
const REMOTE_LOGIN_TIMEOUT_MS = 5000;
const CLAIM_ATTEMPTS = 3;
const CLOSE_TEXT = Buffer.from('close\0');

export class ClusterNode {
  readonly bus: ClusterBus;
  readonly registry: NodeRegistry;
  private readonly links: BusLinks;
  private readonly space: CidSpace;
  private readonly claims: CidClaims;
  readonly startedAt = Date.now();
  /** Every live node as read at the last heartbeat. */
  knownNodes: NodeStatus[] = [];

  constructor(
    readonly options: ClusterOptions,
    private readonly host: ClusterPort,
  ) {
    const { nodeId, prefix } = options;
    this.links = openLinks(options.engine, `iosig:${nodeId}`);
    const limits = { ...BUS_LIMITS, bytesPerSecond: options.busRate, subscribeBatch: options.subscribeBatch };
    this.bus = new ClusterBus(this.links, nodeId, prefix, host, (op, arg) => this.answer(op, arg), limits);
    this.watchLosses();
    const { store } = this.links;
    this.space = new CidSpace(store, prefix, nodeId, options.slotLeaseMs, (l) => host.log(l));
    this.claims = new CidClaims(store, prefix, nodeId);
    this.registry = new NodeRegistry(store, prefix, nodeId, options.heartbeatMs, options.leaseMs, {
      status: () => this.status(),
      restore: () => this.restore(),
      beat: async () => {
        this.bus.ping();
        await this.space.renew();
        this.knownNodes = await this.registry.nodes();
      },
      reap: (node, cids) => this.reap(node, cids),
      log: (l) => host.log(l),
    });
    this.links.events.on('up', () => {
      host.log(`cluster: ${this.links.label} reachable`);
      this.registry.linkUp();
    });
    this.links.events.on('down', () => {
      host.log(`cluster: ${this.links.label} unreachable; local delivery continues, cross-node messages are lost until it returns`);
      this.registry.linkDown();
    });
    if (this.links.isUp) this.registry.linkUp();
    this.registry.start();
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /**
   * Bus losses are counted and logged here, on the receiving side: a Redis connection lost (Redis cuts a
   * subscriber that reads too slowly: client-output-buffer-limit pubsub) and the sequence gaps it leaves.
   * Gap lines are throttled to one a second (the rest are counted).
   */
  private watchLosses(): void {
    const { stats } = this.bus;
    this.links.events.on('disconnect', ({ link, error }: LinkLoss) => {
      stats.disconnects[link]++;
      const what = link === 'subscribe' ? 'messages sent to this node until it is back are lost (counted as sequence gaps when the next ones arrive)' : 'cross-node messages are dropped until it is back (counted)';
      this.host.log(`cluster: the Redis ${link} connection was lost${error ? ` (${error})` : ''}; ${what}`);
    });
    const gapLog = new ThrottledLog((line) => this.host.log(line));
    this.bus.events.on('gap', ({ sender, channel, missed }: BusGap) => {
      gapLog.write(`cluster: ${missed} envelope(s) from node ${sender} on ${channel} never arrived (${stats.gaps} in all)`);
    });
  }

  /** Waits (at most `timeoutMs`) for the bus to be ready; a node starts anyway and joins when the engine answers. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    if (this.bus.isReady) {
      await this.registry.beat();
      return true;
    }
    const timer = AbortSignal.timeout(timeoutMs);
    try {
      await once(this.bus.events, 'ready', { signal: timer });
      await this.registry.beat();
      return true;
    } catch {
      return false;
    }
  }

  /** Other nodes' questions (the bus's request/reply job): a CID's liveness, its retained value, an eviction. */
  private async answer(op: string, arg: string): Promise<string> {
    const { host } = this;
    if (op === 'probe') return (await host.probeCid(arg)) ? 'alive' : this.releaseStale(arg);
    if (op === 'retained') {
      const sep = arg.indexOf('\n');
      return host.retainedOf(arg.slice(0, sep), arg.slice(sep + 1))?.toString('base64') ?? '';
    }
    if (op === 'evict') {
      host.evictCid(arg);
      return 'done';
    }
    return 'unknown';
  }

  private async releaseStale(cid: string): Promise<string> {
    await this.claims.release(cid).catch(() => undefined);
    return 'gone';
  }

  // ---- CIDs -------------------------------------------------------------------------------

  /** The engine's shared state (retained values, leases, claims). */
  get store(): ClusterStore {
    return this.links.store;
  }

  /** The Redis connection for plain commands (the durable store of a cluster); null on the other engines. */
  get redisCommands(): RedisCommands | null {
    const links = this.links as Partial<RedisLinks>;
    return links.commands ?? null;
  }

  /** Who the engine is, for log lines. */
  get engineLabel(): string {
    return this.links.label;
  }

  /** The CID-retained message `topic` of `cid`, held on another node; undefined when none or no answer. */
  async fetchCidRetained(cid: string, topic: string): Promise<Buffer | undefined> {
    const reply = await this.bus.requestByCid(cid, 'retained', `${cid}\n${topic}`, REMOTE_LOGIN_TIMEOUT_MS);
    return reply ? Buffer.from(reply, 'base64') : undefined;
  }

  /** An anonymous CID candidate from this node's slot (the router retries while it is held locally). */
  anonymousCandidate(): string {
    return this.space.candidate();
  }

  /** A new anonymous CID unique across the cluster; `taken` checks the local index. */
  anonymousCid(taken: (cid: string) => boolean): string {
    let cid: string;
    do cid = this.space.candidate();
    while (taken(cid));
    return cid;
  }

  /** The broker gave `cid` to a local connection. */
  cidAssigned(cid: string): void {
    this.bus.holdCid(cid);
    this.registry.addCid(cid);
  }

  /** The local connection holding `cid` closed or changed CID. */
  cidReleased(cid: string): void {
    this.bus.releaseCid(cid);
    this.registry.removeCid(cid);
    if (!cid.startsWith('?')) this.claims.release(cid).catch(() => undefined);
  }

  /**
   * A login wants `cid` and no local session holds it: claim it cluster-wide, following the duplicate-login
   * policy when another node's session has it. Refused (cleanly) while the store is away, since uniqueness could
   * not be guaranteed.
   */
  async claimLogin(cid: string, policy: DuplicateLoginPolicy): Promise<ClaimResult> {
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      let owner: string;
      try {
        owner = await this.claims.claim(cid);
        if (!owner) return { ok: true };
        if (!(await this.registry.isAlive(owner))) {
          if (await this.claims.takeOver(cid, owner)) return { ok: true };
          continue;
        }
      } catch {
        return { ok: false, reason: `cluster CID directory unavailable (${this.links.label} unreachable)` };
      }
      if (policy === 'keep-old') {
        const answer = await this.bus.request(owner, 'probe', cid, REMOTE_LOGIN_TIMEOUT_MS);
        if (answer === 'alive') return { ok: false, reason: `duplicate login for cid "${cid}" (keep old, online on node ${owner})` };
        if (answer === null) return { ok: false, reason: `duplicate login for cid "${cid}": node ${owner} did not answer` };
      } else {
        await this.bus.request(owner, 'evict', cid, REMOTE_LOGIN_TIMEOUT_MS);
      }
      try {
        if (await this.claims.takeOver(cid, owner)) return { ok: true };
      } catch {
        return { ok: false, reason: `cluster CID directory unavailable (${this.links.label} unreachable)` };
      }
    }
    return { ok: false, reason: `duplicate login for cid "${cid}": could not claim it` };
  }

  /** After the store lost our records (restart, or we were presumed dead): write back our CIDs and claims. */
  private async restore(): Promise<void> {
    const cids = this.host.localCids();
    await this.registry.rewriteCids(cids);
    for (const cid of cids) {
      if (cid.startsWith('?')) continue;
      const owner = await this.claims.claim(cid);
      if (owner) this.host.log(`cluster: cid "${cid}" was claimed by node ${owner} while we were unreachable; both sessions stay until one closes`);
    }
    await this.space.renew();
  }

  /**
   * A dead node's devices: their watchers get `<cid>@state` and `<cid>@$state` "close", as if they had closed here
   * (published as the CID, as a closing connection publishes its own notice).
   */
  private async reap(node: string, cids: string[]): Promise<void> {
    this.bus.announceGone(node);
    for (const cid of cids) {
      for (const topic of ['@state', '@$state']) {
        const tag = cid + topic;
        const key = 'CID:' + tag;
        const msg = encodeSignal(tag, PAYLOAD.TEXT, CLOSE_TEXT);
        this.host.deliverPublish(key, msg, -1, cid);
        if (this.bus.remoteWants(key)) this.bus.publish(key, msg, -1, cid);
      }
      if (!cid.startsWith('?')) await this.claims.release(cid, node);
    }
  }

  // ---- status -------------------------------------------------------------------------------

  status(): NodeStatus {
    const s = this.bus.stats;
    return {
      id: this.nodeId,
      address: this.host.address(),
      startedAt: this.startedAt,
      connections: this.host.connectionCount(),
      lagMs: Math.round(s.lagMs * 1000) / 1000,
      dropped: s.dropped,
      gaps: s.gaps,
      published: s.published,
      received: s.received,
      at: Date.now(),
    };
  }

  nodes(): Promise<NodeStatus[]> {
    return this.registry.nodes();
  }

  /** Every CID online in the cluster, node by node (sudo `cid` across nodes). */
  async allCids(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const node of await this.registry.nodes()) out.set(node.id, await this.registry.cidsOf(node.id));
    return out;
  }

  /** Stops without leaving (tests: a node that dies). */
  async crash(): Promise<void> {
    this.registry.stop();
    await this.bus.close();
  }

  async close(): Promise<void> {
    await this.bus.flush().catch(() => undefined);
    if (this.links.isUp) {
      await this.bus.leave().catch(() => undefined);
      await this.registry.leave().catch(() => undefined);
      await this.space.release().catch(() => undefined);
    }
    await this.bus.close();
  }
}
