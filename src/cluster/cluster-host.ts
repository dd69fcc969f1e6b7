// What the cluster needs from the broker it runs in. The broker implements this; the cluster never sees a
// connection, a socket or the router.
import type { Publisher } from '../delivery/outbound.js';

export interface ClusterHost {
  /**
   * A publish from another node to channel `key`: local subscribers only (at most `budget` when ≥ 0); `publisher`
   * as the envelope named it.
   */
  deliverPublish(key: string, msg: Buffer, budget: number, publisher: Publisher): void;
  /** A unicast from another node, already retagged `@topic`, to the local holder of `cid`. */
  deliverUnicast(cid: string, msg: Buffer, publisher: Publisher): void;
  /** Bytes for every local connection (SERVER_SIGNAL, "send to every device"). */
  deliverEveryone(msg: Buffer): void;
  /** Another node's login wants `cid` (keep-old): true if a live local session holds it (stale ones are closed). */
  probeCid(cid: string): Promise<boolean>;
  /** Another node's login replaces ours (replace policy): close the local holder without a close notice. */
  evictCid(cid: string): Promise<void>;
  /** The CID-retained message `topic` (`$x`) of a local connection, for a subscriber on another node. */
  retainedOf(cid: string, topic: string): Buffer | undefined;
  /** Every CID held locally (restored into Redis after it lost them). */
  localCids(): string[];
  /** Local connection count and listener address, for the node's status record. */
  connectionCount(): number;
  address(): string;
  log(line: string): void;
}
