// Receivers written one by one: CongSocket streams and encrypted sessions. A publish hands every member the
// same Outbound, so the CongSocket frame is built once and each stream batches its writes per event-loop turn.
import type { Outbound } from './outbound.js';
import type { LocalGroup, LocalMembers } from './group.js';
import { DeliveryStats, type Backpressure, type Receiver } from './receiver.js';

export class StreamGroup implements LocalGroup {
  readonly name = 'stream';
  readonly stats = new DeliveryStats();

  constructor(readonly backpressure: Backpressure) {}

  createMembers(): StreamMembers {
    return new StreamMembers(this);
  }

  /**
   * One delivery under this group's backpressure rule (channel members, unicast targets, server broadcasts).
   * Counts it as a delivery when written, else as a drop (or a slow-consumer close); returns true when written.
   */
  deliverTo(receiver: Receiver, out: Outbound): boolean {
    if (!receiver.hasRoom(out.msg.length)) {
      this.shed(receiver);
      return false;
    }
    const bytes = receiver.deliver(out);
    if (bytes === 0) return false;
    // Counted only once handed to the socket: a dropped send is a drop, not a delivery.
    const { stats } = this;
    stats.deliveries++;
    stats.messagesOut++;
    stats.bytesOut += bytes;
    return true;
  }

  /** A receiver over its limit: closed once (counted once) or the delivery dropped (counted each time). */
  private shed(receiver: Receiver): void {
    if (this.backpressure.policy === 'close') {
      if (receiver.overLimit('close')) this.stats.slowConsumerCloses++;
    } else {
      this.stats.drops++;
    }
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

  publish(out: Outbound, budget: number): number {
    if (budget >= this.receivers.size) {
      for (const receiver of this.receivers) this.group.deliverTo(receiver, out);
      return this.receivers.size;
    }
    let sent = 0;
    for (const receiver of this.receivers) {
      if (sent >= budget) break;
      this.group.deliverTo(receiver, out);
      sent++;
    }
    return sent;
  }
}
