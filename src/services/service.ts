// RPC services (docs/protocol.md §7.3): what a service is, who calls it and what it may reach.
import type { MbpValue } from '../protocol/mbp.js';
import type { CallRequest } from '../protocol/rpc.js';
import type { KeyStore } from '../auth/key-store.js';
import type { ConnectionInfo, ChannelInfo } from '../info.js';

/** The caller as a service sees it. */
export interface Caller {
  readonly ssid: number;
  readonly cid: string;
  readonly did: string;
  readonly level: number;
  readonly admin: boolean;
  readonly ip: string;
}

/** A reply: status < 128 is success (0 = OK), ≥ 128 failure (255 = ERROR); a falsy body is left out (Q11). */
export interface ServiceReply {
  status: number;
  body?: unknown;
}

/** What the broker lends to services (sudo reads connections and channels, closes, manages keys). */
export interface ServiceHost {
  connectionList(): ConnectionInfo[];
  connectionByCid(cid: string): ConnectionInfo | undefined;
  channelList(): ChannelInfo[];
  /** CIDs of a channel key's subscribers, in subscription order; null for an unknown key. */
  subscribersOf(key: string): string[] | null;
  /** Retained topics a connection holds (CID-retained) — for `sudo remote <cid> 4`. */
  retainedTopicsOf(cid: string): string[];
  /** Cluster nodes: every CID online on any node (null when Redis cannot be asked). Absent on a single node. */
  clusterCids?(): Promise<string[] | null>;
  /** Closes the connection holding `cid`; false when none does. */
  closeCid(cid: string, reason: string): boolean;
  readonly keyStore: KeyStore | null;
  /** @internal Durable state (docs/durability.md): the admin's view, and positioned reading of history channels. */
  readonly durable?: import('./durable-host.js').DurableHost;
  log(line: string): void;
}

/** An RPC service (§7.3): its name, its commands, who may call it, and what a call does. */
export interface Service {
  readonly name: string;
  /** Accepted topics, matched exactly (case-sensitive, §7.1 step 4). */
  readonly commands: readonly string[];
  checkPermission(caller: Caller, req: CallRequest): boolean;
  call(caller: Caller, req: CallRequest, host: ServiceHost): ServiceReply | Promise<ServiceReply>;
  /** Releases what the service holds (connections to Redis...). */
  close?(): Promise<void>;
}

export type { CallRequest, MbpValue };
