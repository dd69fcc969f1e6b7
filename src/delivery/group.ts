// Delivery groups: the one way the router reaches a channel's subscribers (DESIGN.md "Round 2").
//
// A group is one way out of the broker (native uWS topics, framed streams, and later remote nodes). It owns
// its members and their backpressure policy, and counts what it delivers in the broker's Stats. Per channel, each group that has members there
// contributes one ChannelMembers object to `channel.groups`; the router publishes by calling `publish` on each.
//
// Adding a group (e.g. the cluster's remote nodes): implement DeliveryGroup + ChannelMembers, and register a
// channel's members with `router.attachMembers(key, members)` / `router.detachMembers(key, members)` when
// remote interest appears or goes. The router needs no change: it only ever calls `publish`.
import type { Outbound } from './outbound.js';
import type { Receiver } from './receiver.js';

export interface DeliveryGroup {
  /** Short name for logs and metrics labels ('native', 'stream', 'remote'…). */
  readonly name: string;
  /** Served after every other group of a channel (remote nodes: the publishCounter quota favours local subscribers). */
  readonly servedLast?: boolean;
}

/** One group's share of one channel. */
export interface ChannelMembers {
  readonly group: DeliveryGroup;
  /** Receivers reached through this object (a remote group may count nodes or report 0). */
  readonly size: number;
  /**
   * Sends `out` to this group's members of the channel, at most `budget` receivers (the publishCounter
   * quota, in subscription order). Returns how many receivers it was addressed to.
   */
  publish(out: Outbound, budget: number): number;
  /**
   * For groups that cannot count per receiver (one native publish for many): messages and bytes sent so far,
   * so a receiver's own figure is the difference since it joined. Undefined when receivers count themselves.
   */
  readonly sentMessages?: number;
  readonly sentBytes?: number;
}

/** A group that holds local receivers (native topics, streams): the router places subscribers in one of them. */
export interface LocalGroup extends DeliveryGroup {
  /** A new, empty share of channel `key`. */
  createMembers(key: string): LocalMembers;
}

export interface LocalMembers extends ChannelMembers {
  /** Adds a receiver; false when it cannot be reached this way now (the router then tries the next group). */
  add(receiver: Receiver): boolean;
  delete(receiver: Receiver): void;
}
