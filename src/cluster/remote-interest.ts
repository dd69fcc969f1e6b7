// Which channel keys other nodes want (NATS-style interest propagation): fed by their announcements on the
// control channel, it decides whether a publish needs Redis at all. Pure bookkeeping, no I/O.

export interface InterestChange {
  key: string;
  /** true: the first remote node wants `key`; false: the last one stopped. */
  present: boolean;
}

export class RemoteInterest {
  /** key → nodes that want it. */
  private readonly byKey = new Map<string, Set<string>>();
  /** node → keys it wants. */
  private readonly byNode = new Map<string, Set<string>>();
  /** Last control sequence number seen per node (gaps mean lost announcements). */
  private readonly lastSeq = new Map<string, number>();

  constructor(private readonly onChange: (change: InterestChange) => void) {}

  wants(key: string): boolean {
    return this.byKey.has(key);
  }

  nodesFor(key: string): number {
    return this.byKey.get(key)?.size ?? 0;
  }

  /** The nodes that want `key`, in the order they announced it. */
  nodeIdsFor(key: string): Iterable<string> {
    return this.byKey.get(key) ?? [];
  }

  get keyCount(): number {
    return this.byKey.size;
  }

  nodes(): string[] {
    return [...this.byNode.keys()];
  }

  /**
   * Records that an announcement with control sequence `seq` came from `node`; false when one was missed
   * (the caller then asks that node for a full snapshot).
   */
  inSequence(node: string, seq: number): boolean {
    const last = this.lastSeq.get(node);
    this.lastSeq.set(node, seq);
    return last === undefined || seq === last + 1;
  }

  add(node: string, key: string): void {
    let keys = this.byNode.get(node);
    if (!keys) this.byNode.set(node, (keys = new Set()));
    if (keys.has(key)) return;
    keys.add(key);
    let nodes = this.byKey.get(key);
    if (!nodes) {
      this.byKey.set(key, (nodes = new Set()));
      nodes.add(node);
      this.onChange({ key, present: true });
    } else nodes.add(node);
  }

  remove(node: string, key: string): void {
    const keys = this.byNode.get(node);
    if (!keys?.delete(key)) return;
    const nodes = this.byKey.get(key);
    if (!nodes) return;
    nodes.delete(node);
    if (nodes.size === 0) {
      this.byKey.delete(key);
      this.onChange({ key, present: false });
    }
  }

  /** A full snapshot from `node` replaces what we knew of it. */
  replace(node: string, keys: string[], seq: number): void {
    const next = new Set(keys);
    for (const key of [...(this.byNode.get(node) ?? [])]) if (!next.has(key)) this.remove(node, key);
    for (const key of next) this.add(node, key);
    this.lastSeq.set(node, seq);
  }

  /** A node left or died: everything it wanted goes. */
  forget(node: string): void {
    for (const key of [...(this.byNode.get(node) ?? [])]) this.remove(node, key);
    this.byNode.delete(node);
    this.lastSeq.delete(node);
  }
}
