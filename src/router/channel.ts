// One channel key: its local subscribers and, per delivery group, the members that group reaches.
import type { ChannelMembers, LocalMembers } from '../delivery/group.js';
import type { Receiver } from '../delivery/receiver.js';
import type { Quota } from '../protocol/codes.js';
import type { ShareHolder, ShareOwner } from './cap-shares.js';

/** A CID-retained value and the owner its bytes are charged to (cap-shares.ts). */
export interface RetainedEntry {
  readonly msg: Buffer;
  readonly owner: ShareOwner;
}

/** A local connection as the router sees it. */
export interface Subscriber extends Receiver, ShareHolder {
  /** Set by the router (setCid / assignAnonymousCid). */
  cid: string;
  /** Prefix of its home channels (`#name`). */
  readonly home: string;
  readonly quota: Pick<Quota, 'publishCounter'>;
  readonly subscriptions: ReadonlyMap<string, Subscription>;
  addSubscription(key: string, sub: Subscription): void;
  removeSubscription(key: string): void;
  /** CID-retained messages it published (§5.6). */
  retainedFor(topic: string): Buffer | undefined;
  retainedEntry(topic: string): RetainedEntry | undefined;
  /** Keeps a copy, charged to `owner`; false when its own entry limit refused it. */
  retain(topic: string, msg: Uint8Array, owner: ShareOwner, limit: number): boolean;
  /** Forgets its CID-retained messages; returns them (their bytes go back to their owners). */
  dropRetained(): Iterable<RetainedEntry>;
  /** A log line about this subscriber (cap refusals). */
  report(what: string): void;
  /** Deliveries it got through a group that counts per channel (native publishes), added when it leaves that path. */
  addSharedTraffic(messages: number, bytes: number): void;
}

/** A subscriber's membership in one channel. */
export interface Subscription {
  readonly channel: Channel;
  /** The group share it is reached through now. */
  members: LocalMembers;
  /** `members.sentMessages` / `sentBytes` when it joined them (for groups that count per channel). */
  messagesAtJoin: number;
  bytesAtJoin: number;
}

export class Channel {
  /** Every local subscriber, in subscription order (publishCounter favours the earliest, Q29). */
  readonly subscribers = new Set<Subscriber>();
  /** One entry per delivery group with members here; a publish calls each. */
  readonly groups: ChannelMembers[] = [];
  /** Who it is charged to while it has local subscribers: the session that created it (cap-shares.ts). */
  owner: ShareOwner = null;

  constructor(readonly key: string) {}

  get size(): number {
    return this.subscribers.size;
  }

  /** True when nothing — local or remote — is reached through this channel any more. */
  get empty(): boolean {
    return this.subscribers.size === 0 && this.groups.length === 0;
  }

  membersOf<M extends ChannelMembers>(group: M['group']): M | undefined {
    for (const members of this.groups) if (members.group === group) return members as M;
    return undefined;
  }

  /** Adds a group's share; groups served last stay behind the others, whatever the order they came in. */
  attach(members: ChannelMembers): void {
    if (this.groups.includes(members)) return;
    const last = members.group.servedLast ? -1 : this.groups.findIndex((m) => m.group.servedLast);
    if (last < 0) this.groups.push(members);
    else this.groups.splice(last, 0, members);
  }

  detach(members: ChannelMembers): void {
    const at = this.groups.indexOf(members);
    if (at >= 0) this.groups.splice(at, 1);
  }
}
