// The subscription index: MQTT topic filters (`+`, `#`, shared `$share/<group>/...`) matched against topic names
// without looking at filters that cannot match. Filters without wildcards live in one map (a publish costs one
// lookup there, as iosig's channels do); wildcard filters live in a trie over topic levels, so a publish walks only
// the branches its own levels lead to: 100 000 wildcard filters under other first levels cost one map miss.
// A pure data structure, generic over the subscriber and the data kept per subscription.
import { hasWildcard, isDollarTopic } from './topic.js';

/** One shared subscription (`$share/<group>/<filter>`): one member gets each message, in turn. */
export class SharedGroup<S, D> {
  readonly members: S[] = [];
  readonly data = new Map<S, D>();
  private cursor = 0;

  constructor(readonly name: string) {}

  /** The next member in round-robin order that `ready` accepts; the next one anyway when none does. */
  pick(ready: ((member: S) => boolean) | undefined): S | undefined {
    const n = this.members.length;
    if (n === 0) return undefined;
    const start = this.cursor % n;
    let chosen = start;
    if (ready) {
      for (let k = 0; k < n; k++) {
        const i = (start + k) % n;
        if (ready(this.members[i]!)) {
          chosen = i;
          break;
        }
      }
    }
    this.cursor = chosen + 1;
    return this.members[chosen];
  }

  set(member: S, data: D): boolean {
    const fresh = !this.data.has(member);
    if (fresh) this.members.push(member);
    this.data.set(member, data);
    return fresh;
  }

  delete(member: S): boolean {
    if (!this.data.delete(member)) return false;
    const i = this.members.indexOf(member);
    this.members.splice(i, 1);
    if (i < this.cursor) this.cursor--;
    return true;
  }
}

/** The subscriptions that end at one filter: plain ones and shared groups. */
class Bucket<S, D> {
  /** The plain subscription while there is only one (most filters have one subscriber; a Map costs ~400 bytes). */
  private sole: S | undefined = undefined;
  private soleData: D | undefined = undefined;
  /** The plain subscriptions once a second one came. */
  private subs: Map<S, D> | null = null;
  groups: Map<string, SharedGroup<S, D>> | null = null;

  get empty(): boolean {
    return (this.subs === null ? this.sole === undefined : this.subs.size === 0) && (this.groups === null || this.groups.size === 0);
  }

  /** Adds or replaces `subscriber`'s plain subscription; true when it is new. */
  setSub(subscriber: S, data: D): boolean {
    if (this.subs !== null) {
      const fresh = !this.subs.has(subscriber);
      this.subs.set(subscriber, data);
      return fresh;
    }
    if (this.sole === undefined || this.sole === subscriber) {
      const fresh = this.sole === undefined;
      this.sole = subscriber;
      this.soleData = data;
      return fresh;
    }
    this.subs = new Map<S, D>([
      [this.sole, this.soleData as D],
      [subscriber, data],
    ]);
    this.sole = this.soleData = undefined;
    return true;
  }

  deleteSub(subscriber: S): boolean {
    if (this.subs !== null) return this.subs.delete(subscriber);
    if (this.sole === undefined || this.sole !== subscriber) return false;
    this.sole = this.soleData = undefined;
    return true;
  }

  getSub(subscriber: S): D | undefined {
    if (this.subs !== null) return this.subs.get(subscriber);
    return this.sole !== undefined && this.sole === subscriber ? this.soleData : undefined;
  }

  visitSubs(visit: MatchVisitor<S, D>): void {
    if (this.subs !== null) for (const [subscriber, data] of this.subs) visit(subscriber, data, null);
    else if (this.sole !== undefined) visit(this.sole, this.soleData as D, null);
  }
}

class TrieNode<S, D> {
  children: Map<string, TrieNode<S, D>> | null = null;
  plus: TrieNode<S, D> | null = null;
  /** Filters ending here (`a/+/b`). */
  here: Bucket<S, D> | null = null;
  /** Filters ending in `#` here (`a/#`: this level and everything below, and the parent level itself). */
  hash: Bucket<S, D> | null = null;

  get empty(): boolean {
    return (
      (this.children === null || this.children.size === 0) &&
      this.plus === null &&
      (this.here === null || this.here.empty) &&
      (this.hash === null || this.hash.empty)
    );
  }
}

/** Called once per matching plain subscription, and once per matching shared group with its chosen member. */
export type MatchVisitor<S, D> = (subscriber: S, data: D, group: SharedGroup<S, D> | null) => void;

export interface TopicIndexOptions<S> {
  /** Which shared-group members can take a message now (online, window not full); others are skipped in turn. */
  ready?: (subscriber: S) => boolean;
}

export class TopicIndex<S, D> {
  private readonly exact = new Map<string, Bucket<S, D>>();
  private readonly root = new TrieNode<S, D>();
  private entries = 0;
  private wildcardEntries = 0;
  private readonly ready: ((subscriber: S) => boolean) | undefined;

  constructor(options: TopicIndexOptions<S> = {}) {
    this.ready = options.ready;
  }

  /** Subscriptions held (a shared group counts each member). */
  get size(): number {
    return this.entries;
  }

  /** Subscriptions whose filter has a wildcard. */
  get wildcardSize(): number {
    return this.wildcardEntries;
  }

  /**
   * Adds or replaces `subscriber`'s subscription to `filter` (valid, without the `$share/<group>/` prefix); `group`
   * names the shared subscription it joins. Returns true when it is new, false when it replaced one.
   */
  add(filter: string, subscriber: S, data: D, group: string | null = null): boolean {
    const wild = hasWildcard(filter);
    const bucket = wild ? this.trieBucket(filter, true)! : this.exactBucket(filter, true)!;
    let fresh: boolean;
    if (group === null) {
      fresh = bucket.setSub(subscriber, data);
    } else {
      bucket.groups ??= new Map();
      let shared = bucket.groups.get(group);
      if (!shared) bucket.groups.set(group, (shared = new SharedGroup(group)));
      fresh = shared.set(subscriber, data);
    }
    if (fresh) {
      this.entries++;
      if (wild) this.wildcardEntries++;
    }
    return fresh;
  }

  /** Removes one subscription; true when it existed. Empty branches are pruned. */
  remove(filter: string, subscriber: S, group: string | null = null): boolean {
    const wild = hasWildcard(filter);
    const bucket = wild ? this.trieBucket(filter, false) : this.exactBucket(filter, false);
    if (!bucket) return false;
    let removed = false;
    if (group === null) removed = bucket.deleteSub(subscriber);
    else {
      const shared = bucket.groups?.get(group);
      if (shared) {
        removed = shared.delete(subscriber);
        if (shared.members.length === 0) bucket.groups!.delete(group);
      }
    }
    if (!removed) return false;
    this.entries--;
    if (wild) {
      this.wildcardEntries--;
      this.prune(filter);
    } else if (bucket.empty) this.exact.delete(filter);
    return true;
  }

  /** The data of one subscription, or undefined. */
  get(filter: string, subscriber: S, group: string | null = null): D | undefined {
    const bucket = hasWildcard(filter) ? this.trieBucket(filter, false) : this.exactBucket(filter, false);
    if (!bucket) return undefined;
    return group === null ? bucket.getSub(subscriber) : bucket.groups?.get(group)?.data.get(subscriber);
  }

  /** Visits the subscriptions of exactly `filter` (not those of other filters matching the same topics). */
  visitFilter(filter: string, visit: MatchVisitor<S, D>): void {
    const bucket = hasWildcard(filter) ? this.trieBucket(filter, false) : this.exactBucket(filter, false);
    if (bucket) this.visitBucket(bucket, visit);
  }

  /** Visits every subscription whose filter matches `topic` (a valid topic name). */
  match(topic: string, visit: MatchVisitor<S, D>): void {
    const bucket = this.exact.get(topic);
    if (bucket) this.visitBucket(bucket, visit);
    if (this.wildcardEntries > 0) this.walk(this.root, topic, 0, true, isDollarTopic(topic), visit);
  }

  private walk(node: TrieNode<S, D>, topic: string, start: number, atRoot: boolean, dollar: boolean, visit: MatchVisitor<S, D>): void {
    // A `$` topic is not matched by a wildcard in the first level [MQTT-4.7.2-1].
    const skipWild = atRoot && dollar;
    if (node.hash && !skipWild) this.visitBucket(node.hash, visit);
    if (start > topic.length) {
      if (node.here) this.visitBucket(node.here, visit);
      return;
    }
    let end = topic.indexOf('/', start);
    if (end < 0) end = topic.length;
    if (node.children) {
      const child = node.children.get(topic.slice(start, end));
      if (child) this.walk(child, topic, end + 1, false, dollar, visit);
    }
    if (node.plus && !skipWild) this.walk(node.plus, topic, end + 1, false, dollar, visit);
  }

  private visitBucket(bucket: Bucket<S, D>, visit: MatchVisitor<S, D>): void {
    bucket.visitSubs(visit);
    if (bucket.groups) {
      for (const shared of bucket.groups.values()) {
        const member = shared.pick(this.ready);
        if (member !== undefined) visit(member, shared.data.get(member)!, shared);
      }
    }
  }

  private exactBucket(filter: string, create: boolean): Bucket<S, D> | null {
    let bucket = this.exact.get(filter);
    if (!bucket && create) this.exact.set(filter, (bucket = new Bucket()));
    return bucket ?? null;
  }

  private trieBucket(filter: string, create: boolean): Bucket<S, D> | null {
    const levels = filter.split('/');
    let node = this.root;
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]!;
      if (level === '#') {
        if (!node.hash && create) node.hash = new Bucket();
        return node.hash;
      }
      let next: TrieNode<S, D> | null | undefined;
      if (level === '+') {
        if (!node.plus && create) node.plus = new TrieNode();
        next = node.plus;
      } else {
        next = node.children?.get(level);
        if (!next && create) {
          node.children ??= new Map();
          node.children.set(level, (next = new TrieNode()));
        }
      }
      if (!next) return null;
      node = next;
    }
    if (!node.here && create) node.here = new Bucket();
    return node.here;
  }

  /** Drops the nodes of `filter`'s path that hold nothing any more, deepest first. */
  private prune(filter: string): void {
    const levels = filter.split('/');
    const path: Array<[TrieNode<S, D>, string]> = [];
    let node = this.root;
    for (const level of levels) {
      if (level === '#') break;
      const next = level === '+' ? node.plus : node.children?.get(level);
      if (!next) return;
      path.push([node, level]);
      node = next;
    }
    if (node.hash?.empty) node.hash = null;
    if (node.here?.empty) node.here = null;
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      const child = level === '+' ? parent.plus! : parent.children!.get(level)!;
      if (child.hash?.empty) child.hash = null;
      if (child.here?.empty) child.here = null;
      if (!child.empty) return;
      if (level === '+') parent.plus = null;
      else parent.children!.delete(level);
    }
  }
}
