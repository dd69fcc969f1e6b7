// The broker's side of the cluster boundary (ClusterPort, cluster/port.ts): what other nodes send goes into the
// router here, other nodes' questions about local sessions are answered here, and the router's extension points
// (router/extension.ts) are wired to the broker's cluster membership — the first local subscriber of a key, a CID
// taken or released, a unicast or a `@$topic` lookup for a CID held elsewhere. The two things a login on another
// node may ask of a local session — prove it is alive (keep-old) or give way (replace) — follow the same rule as a
// local duplicate login (cid-claims.ts).
import { encodeAuthClear } from '../protocol/messages.js';
import { probeLiveness } from '../guard/duplicate-login.js';
import { isRetainedKey, CID_PREFIX } from '../router/tags.js';
import type { ChannelMembers, DeliveryGroup } from '../delivery/group.js';
import type { Publisher } from '../delivery/outbound.js';
import type { ClusterPort } from '../cluster/port.js';
import type { Broker, ClusterMembership } from './broker.js';

export class ClusterSide implements ClusterPort {
  /** CID-retained messages of CIDs held elsewhere, for keys local clients subscribe to: `cid@$topic` → msg. */
  private readonly remoteRetained = new Map<string, Buffer>();
  /** The other nodes' delivery group: what arrives from them never goes back to them. */
  private origin: DeliveryGroup | null = null;

  /** `ports`: the listeners bound, for the node's status record. */
  constructor(
    private readonly broker: Broker,
    private readonly ports: () => { ws: number | undefined; cong: number | undefined },
  ) {}

  get duplicateLogin(): ClusterPort['duplicateLogin'] {
    return this.broker.options.duplicateLogin;
  }

  /** Wires the router's extension points to `cluster`; before any listener, so it sees every CID and subscription. */
  connect(cluster: ClusterMembership): void {
    const { router } = this.broker;
    router.addHooks({
      interest: (key, present) => {
        if (!present && key.startsWith(CID_PREFIX)) this.remoteRetained.delete(key.slice(CID_PREFIX.length));
        cluster.interest(key, present);
      },
      cid: (cid, held) => cluster.cidHeld(cid, held),
    });
    router.directory = {
      // The bus finds the node holding it; at-most-once, so no answer is awaited.
      unicast: (cid, out) => {
        cluster.unicast(cid, out);
        return true;
      },
      retainedFor: (cid, topic) => this.remoteRetained.get(`${cid}@${topic}`),
      anonymousCid: () => cluster.anonymousCid(),
    };
  }

  // ---- what other nodes send ------------------------------------------------------------------

  deliverPublish(key: string, msg: Buffer, budget: number, publisher: Publisher): void {
    const { router } = this.broker;
    if (isRetainedKey(key)) {
      const at = key.indexOf('@');
      if (at < 0) {
        // Marked as another node's (or the shared store's): not written back to it.
        router.retainForChannel(key, msg, publisher, null, true);
      } else if (key.startsWith(CID_PREFIX)) {
        this.remoteRetained.set(key.slice(CID_PREFIX.length), Buffer.from(msg));
      }
    }
    router.deliverFromRemote(key, msg, this.origin, budget >= 0 ? budget : Infinity, publisher);
  }

  deliverStored(key: string, msg: Buffer, publisher: Publisher): void {
    const { router } = this.broker;
    if (key.indexOf('@') < 0) {
      if (msg.equals(router.retained.get(key) ?? Buffer.alloc(0))) return;
    } else if (!key.startsWith(CID_PREFIX) || router.cids.has(key.slice(CID_PREFIX.length, key.indexOf('@')))) return;
    this.deliverPublish(key, msg, -1, publisher);
  }

  deliverUnicast(cid: string, msg: Buffer, publisher: Publisher): void {
    this.broker.router.deliverToCid(cid, msg, publisher);
  }

  deliverEveryone(msg: Buffer): void {
    this.broker.broadcastLocal(msg);
  }

  remoteMembers(key: string, members: ChannelMembers, present: boolean): void {
    this.origin = members.group;
    if (present) this.broker.router.attachMembers(key, members);
    else this.broker.router.detachMembers(key, members);
  }

  // ---- other nodes' questions -------------------------------------------------------------------

  async probeCid(cid: string): Promise<boolean> {
    const { router, options, clock } = this.broker;
    const conn = router.cids.get(cid);
    if (!conn) return false;
    // The same probe as a local duplicate login: a silent session is the stale socket of a device that
    // reconnected elsewhere, and gives way.
    const deadline = options.duplicateProbeTimeout;
    if (await probeLiveness(conn, deadline, clock)) return true;
    conn.close(`stale session: no answer to the probe of a duplicate login on another node within ${deadline} ms`, 'abort');
    return false;
  }

  evictCid(cid: string): void {
    const conn = this.broker.router.cids.get(cid);
    if (!conn) return;
    conn.quietClose = true;
    conn.channel.sendPlain(encodeAuthClear('duplicate login.'));
    conn.close('duplicate login: replaced by a login on another node');
  }

  retainedOf(cid: string, topic: string): Buffer | undefined {
    return this.broker.router.cidRetained(cid, topic);
  }

  // ---- what the node reads ------------------------------------------------------------------------

  holdsCid(cid: string): boolean {
    return this.broker.router.cids.has(cid);
  }

  localCids(): string[] {
    return [...this.broker.router.cids.keys()];
  }

  *localRetained(): Iterable<[string, Buffer, Publisher, number]> {
    const { router } = this.broker;
    for (const { key, msg, stamp, remote } of router.retained.records()) if (!remote) yield [key, msg, router.retainedPublisher(key), stamp];
  }

  connectionCount(): number {
    return this.broker.registry.size;
  }

  address(): string {
    const { ws, cong } = this.ports();
    return `${this.broker.options.host} ws:${ws ?? '-'} cong:${cong ?? '-'}`;
  }

  log(line: string): void {
    this.broker.log(line);
  }
}
