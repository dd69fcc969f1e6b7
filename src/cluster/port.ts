// The one boundary between a broker and its cluster: what the broker does for the cluster. The broker implements
// it (broker/cluster-side.ts); the bus delivers into it what other nodes send, the request/reply job answers other
// nodes' questions from it, and the node reads its status and CIDs from it. The cluster never sees a connection,
// a socket or the router. (The other direction, what the broker asks of its cluster, is ClusterMembership in
// broker/broker.ts.)
import type { DuplicateLoginPolicy } from '../policies.js';
import type { ChannelMembers } from '../delivery/group.js';
import type { Publisher } from '../delivery/outbound.js';

export interface ClusterPort {
  readonly duplicateLogin: DuplicateLoginPolicy;

  // ---- what other nodes send (bus.ts) ----------------------------------------------------------
  /**
   * A publish from another node to channel `key`: local subscribers only (at most `budget` when ≥ 0); a retained
   * key keeps the value; `publisher` as the envelope named it.
   */
  deliverPublish(key: string, msg: Buffer, budget: number, publisher: Publisher): void;
  /** A unicast from another node, already retagged `@topic`, to the local holder of `cid`. */
  deliverUnicast(cid: string, msg: Buffer, publisher: Publisher): void;
  /** Bytes for every local connection (SERVER_SIGNAL, "send to every device"). */
  deliverEveryone(msg: Buffer): void;
  /**
   * A retained value read from the store or another node for the first local subscriber of `key`: kept and
   * delivered unless this node already has it (or, for a CID key, holds the CID itself).
   */
  deliverStored(key: string, msg: Buffer, publisher: Publisher): void;
  /** `members` (other nodes) join channel `key` (`present`: the first node wants it) or leave it (the last stopped). */
  remoteMembers(key: string, members: ChannelMembers, present: boolean): void;

  // ---- other nodes' questions (request/reply) ----------------------------------------------------
  /** Keep-old across nodes: true if a live local session holds `cid` (a stale one is closed first). */
  probeCid(cid: string): Promise<boolean>;
  /** Replace across nodes: AUTH_CLEAR and close the local holder, without a close notice. */
  evictCid(cid: string): void;
  /** The CID-retained message `topic` (`$x`) of a local connection, for a subscriber on another node. */
  retainedOf(cid: string, topic: string): Buffer | undefined;

  // ---- what the node reads -----------------------------------------------------------------------
  /** True when a local connection holds `cid`. */
  holdsCid(cid: string): boolean;
  /** Every CID held locally (written back into the store after it lost them). */
  localCids(): string[];
  /**
   * Channel-retained values published on this node (not those from other nodes), for the shared store; `stamp`
   * changes whenever the value does.
   */
  localRetained(): Iterable<[key: string, msg: Buffer, publisher: Publisher, stamp: number]>;
  /** Local connection count and listener address, for the node's status record. */
  connectionCount(): number;
  address(): string;
  log(line: string): void;
}
