// Receivers written one by one: CongSocket streams and encrypted sessions. A publish hands every member the
// same Outbound, so the CongSocket frame is built once and each stream batches its writes per event-loop turn.
import type { Outbound } from './outbound.js';
import type { LocalGroup, LocalMembers } from './group.js';
import type { Receiver } from './receiver.js';
import type { Stats } from '../metrics/stats.js';

export class StreamGroup implements LocalGroup {
  readonly name = 'stream';

  constructor(readonly stats: Stats) {}

  createMembers(): StreamMembers {
    return new StreamMembers(this);
  }

  /**
   * One delivery under this group's backpressure rule (unicast targets, server broadcasts). Counts it as a delivery
   * when written, else as a drop; returns true when written.
   */
  deliverTo(receiver: Receiver, out: Outbound): boolean {
    const bytes = this.write(receiver, out);
    if (bytes === 0) return false;
    this.count(1, bytes);
    return true;
  }

  /**
   * Writes one delivery if the receiver has room, else counts it as a drop (the receiver's link has told the
   * slow-consumer watch why); the bytes written, 0 if none. Deliveries are counted by the caller.
   */
  write(receiver: Receiver, out: Outbound): number {
    if (receiver.hasRoom(out.msg.length)) return receiver.deliver(out);
    this.stats.drops++;
    return 0;
  }

  /** Deliveries handed to sockets: counted only once written, so a dropped send is a drop, not a delivery. */
  count(deliveries: number, bytes: number): void {
    const { stats } = this;
    stats.deliveries += deliveries;
    stats.messagesOut += deliveries;
    stats.bytesOut += bytes;
  }

}

export class StreamMembers implements LocalMembers {
  /** Insertion order is subscription order, which the publishCounter quota favours (Q29). */
  private readonly receivers = new Set<Receiver>();

  constructor(readonly group: StreamGroup) {}

  get size(): number {
    return this.receivers.size;
  }

  add(receiver: Receiver): boolean {
    this.receivers.add(receiver);
    return true;
  }

  delete(receiver: Receiver): void {
    this.receivers.delete(receiver);
  }

  /** Each receiver in turn, at most `budget` of them; the group's counters are added once per publish. */
  publish(out: Outbound, budget: number): number {
    const { group } = this;
    let tried = 0;
    let written = 0;
    let bytes = 0;
    for (const receiver of this.receivers) {
      if (tried >= budget) break;
      tried++;
      const n = group.write(receiver, out);
      if (n > 0) {
        written++;
        bytes += n;
      }
    }
    group.count(written, bytes);
    return tried;
  }
}
