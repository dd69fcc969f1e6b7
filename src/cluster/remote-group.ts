// The third delivery group: other nodes. Per channel key that some other node wants, one RemoteMembers object
// sits in the channel beside the local groups; a publish calls it like any group and it sends one envelope.
import type { ChannelMembers, DeliveryGroup } from '../delivery/group.js';
import type { Outbound } from '../delivery/outbound.js';
import type { Stats } from '../metrics/stats.js';
import type { ClusterBus } from './bus.js';

export class RemoteNodesGroup implements DeliveryGroup {
  readonly name = 'remote';
  /** Local subscribers first: a publishCounter budget reaches other nodes only with what they leave. */
  readonly servedLast = true;
  private readonly members = new Map<string, RemoteMembers>();

  /** Counts in `stats`: deliveries = node deliveries addressed (one per interested node per publish), messagesOut = envelopes. */
  constructor(
    private readonly bus: ClusterBus,
    readonly stats: Stats,
  ) {}

  /** The share of channel `key` (made on first use, kept while some node wants the key). */
  membersFor(key: string): RemoteMembers {
    let members = this.members.get(key);
    if (!members) this.members.set(key, (members = new RemoteMembers(this, this.bus, key)));
    return members;
  }

  drop(key: string): RemoteMembers | undefined {
    const members = this.members.get(key);
    this.members.delete(key);
    return members;
  }
}

class RemoteMembers implements ChannelMembers {
  constructor(
    readonly group: RemoteNodesGroup,
    private readonly bus: ClusterBus,
    private readonly key: string,
  ) {}

  /** Nodes, not devices: the devices behind them are counted by their own nodes. */
  get size(): number {
    return this.bus.remote.nodesFor(this.key);
  }

  /**
   * One envelope however many nodes want it; Redis fans it out. Counts no local receivers. The publisher's owner
   * (its address, or its device once logged in) picks its fair share of the bus budget.
   */
  publish(out: Outbound, budget: number): number {
    const { stats } = this.group;
    stats.messagesOut++;
    stats.bytesOut += out.msg.length;
    stats.deliveries += this.size;
    this.bus.publish(this.key, out.msg, Number.isFinite(budget) ? budget : -1, out.publisher, out.owner);
    return 0;
  }
}
