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

/**
 * A local session as the router sees it: who it is (its CID, home prefix, quota and share owner) and the receiver
 * its deliveries go to. What the router keeps about it (subscriptions, CID-retained signals) is the router's own.
 */
export interface Subscriber extends ShareHolder {
  /** Set by the router (setCid / assignAnonymousCid). */
  cid: string;
  /** Prefix of its home channels (`#name`). */
  readonly home: string;
  readonly quota: Pick<Quota, 'publishCounter'>;
  /** What delivery groups write to (its secure channel). */
  readonly receiver: Receiver;
  /** A log line about this subscriber (cap refusals). */
  report(what: string): void;
}

/**
 * What the router keeps for one subscriber that has subscribed or retained something (made on first use, so an
 * idle connection costs the router nothing).
 */
export interface SubscriberRecord {
  /** Channel key → membership (insertion order = subscription order). */
  readonly subscriptions: Map<string, Subscription>;
  /** CID-retained messages it published, keyed by topic (`$x`), §5.6. */
  retained: Map<string, RetainedEntry> | null;
  /** Deliveries it got through groups that count per channel (native publishes), settled when it left them. */
  sharedMessages: number;
  sharedBytes: number;
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
