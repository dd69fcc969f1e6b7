// One connection's traffic figures, as one object.
import type { Subscription } from '../router/channel.js';

export class Traffic {
  messagesIn = 0;
  bytesIn = 0;
  /** Written by the connection itself (control messages, stream deliveries) plus shared deliveries already settled. */
  private messagesOwn = 0;
  private bytesOwn = 0;

  countIn(bytes: number): void {
    this.messagesIn++;
    this.bytesIn += bytes;
  }

  countOut(bytes: number): void {
    this.messagesOwn++;
    this.bytesOwn += bytes;
  }

  /** Shared deliveries (one native publish for many) of a channel the connection stopped receiving that way. */
  addShared(messages: number, bytes: number): void {
    this.messagesOwn += messages;
    this.bytesOwn += bytes;
  }

  /** Everything written so far: own writes plus the shared deliveries of the channels it is still in. */
  messagesOut(subscriptions: Iterable<Subscription>): number {
    let n = this.messagesOwn;
    for (const sub of subscriptions) if (sub.members.sentMessages !== undefined) n += sub.members.sentMessages - sub.messagesAtJoin;
    return n;
  }

  bytesOut(subscriptions: Iterable<Subscription>): number {
    let n = this.bytesOwn;
    for (const sub of subscriptions) if (sub.members.sentBytes !== undefined) n += sub.members.sentBytes - sub.bytesAtJoin;
    return n;
  }
}
