// One channel key and its subscribers, split by how they are reached.
import type { Connection } from '../connection/connection.js';

export class Channel {
  /** Every subscriber, in subscription order (publishCounter favours the earliest, Q29). */
  readonly subscribers = new Set<Connection>();
  /** Subscribers reached by one native transport publish (plain WebSocket sessions). */
  nativeCount = 0;
  /** Subscribers written one by one (CongSocket, encrypted sessions). */
  readonly direct = new Set<Connection>();
  /** Messages and bytes sent natively so far; subscribers read their share as a difference. */
  nativeMessages = 0;
  nativeBytes = 0;

  constructor(readonly key: string) {}

  get size(): number {
    return this.subscribers.size;
  }
}

/** A connection's membership in one channel. */
export interface Subscription {
  readonly channel: Channel;
  native: boolean;
  /** Channel native counters when this subscription started using the native path. */
  messagesAtJoin: number;
  bytesAtJoin: number;
}
