// Extension points for code that reaches beyond this process (the cluster bus of issue 10), so that it plugs
// in without changing the router:
//   - RouterHooks.interest: the first local subscriber of a channel key joined / the last one left
//     (subscribe to that key on the bus, or drop it);
//   - RouterHooks.cid: a local connection took / released a CID (lease it cluster-wide);
//   - CidDirectory: unicasts and `@$topic` retained lookups for CIDs no local connection holds, and the
//     anonymous CID space;
//   - router.attachMembers(key, members) / detachMembers: a remote-nodes delivery group joins the channels remote
//     nodes want (see delivery/group.ts);
//   - router.deliverFromRemote(key, msg, origin) / router.deliverToCid(cid, msg): messages that arrive from the bus;
//   - ChannelTap: receivers the router does not index by channel key (MQTT sessions, whose topic filters have
//     wildcards): told of every publish and of unicasts to the CIDs they hold.
//   - RouterKeeper: what outlives the process (broker/durability.ts): retained values and channel signals are
//     handed over as they are kept, synchronously (the keeper batches them; nothing is awaited on the publish path).
import type { ChannelMembers } from '../delivery/group.js';
import type { Outbound } from '../delivery/outbound.js';
import type { ShareOwner } from './cap-shares.js';

export interface RouterHooks {
  /** `present`: the first local subscriber of `key` joined (true) or the last one left (false). */
  interest?(key: string, present: boolean): void;
  /** A local connection took (`held` true) or released (false) `cid`. */
  cid?(cid: string, held: boolean): void;
}

export interface CidDirectory {
  /** Sends a unicast (already retagged `@topic`) to `cid`, held by no local connection; false when nobody holds it. */
  unicast(cid: string, out: Outbound): boolean;
  /** The CID-retained message `topic` (`$x`) of a CID held elsewhere, when known. */
  retainedFor?(cid: string, topic: string): Buffer | undefined;
  /** True when `cid` is held elsewhere: a new anonymous CID must not take it. */
  holds?(cid: string): boolean;
  /** A fresh anonymous CID candidate (`?…`) from a space this process owns; the router's own random one otherwise. */
  anonymousCid?(): string;
}

/**
 * Receivers outside the router's channel map (the MQTT side, mqtt/iosig-port.ts). The router calls it for every
 * channel publish (whether or not the channel has subscribers of its own) and for unicasts to CIDs no local
 * connection holds. Never throws.
 */
export interface ChannelTap {
  /**
   * `out` was published on channel `key`. `local`: by a client or the server of this process; false when it came
   * from another node (the tap then serves only what that node addressed to it). Returns the receivers reached.
   */
  publish(key: string, out: Outbound, local: boolean): number;
  /** A unicast (already retagged `@topic`) to `cid`; false when the tap holds no such CID. */
  unicast(cid: string, out: Outbound): boolean;
  /** True when the tap holds `cid` (an anonymous CID must not take it). */
  holds(cid: string): boolean;
  /** A session of the index took `cid` over (the duplicate-login rule, replace): the tap ends its holders of it. */
  takeOver?(cid: string): void;
  /** Another node's interest in a key the tap owns (not a channel key): true when taken. */
  attachMembers(key: string, members: ChannelMembers): boolean;
  detachMembers(key: string, members: ChannelMembers): boolean;
}

/** Where the router hands what must survive a restart (docs/durability.md §10); null on the router: nowhere. */
export interface RouterKeeper {
  /** A channel-retained value was kept (`msg`, the router's own copy: never changed) or cleared (null). */
  retained(key: string, msg: Buffer | null, owner: ShareOwner): void;
  /** A logged-in session's CID-retained value was kept; anonymous CIDs are random per connection, so never. */
  cidRetained(cid: string, topic: string, msg: Buffer, owner: ShareOwner): void;
  /** A logged-in session's own close took its CID-retained values out of the live view (Q25). */
  cidClosed(cid: string): void;
  /** True when channel `key` keeps a history: its publishes are handed to `published`. */
  keepsHistory(key: string): boolean;
  /** A signal published on a history channel (`msg` may be a view into a transient buffer). */
  published(key: string, msg: Uint8Array): void;
}
