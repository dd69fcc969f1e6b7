// What this node tells the others it wants — the sending half of interest propagation (remote-interest.ts is the
// receiving half): the channel keys local clients subscribe to, which of them the others have been told about,
// and the changes of the current turn, which leave as one INTEREST envelope. Pure bookkeeping, no I/O.

export class LocalInterest {
  /** Channel keys local clients subscribe to. */
  private readonly keys = new Set<string>();
  /** Keys the other nodes have been told about (or will be, with the pending changes). */
  private readonly announced = new Set<string>();
  private readonly added = new Set<string>();
  private readonly removed = new Set<string>();

  has(key: string): boolean {
    return this.keys.has(key);
  }

  get size(): number {
    return this.keys.size;
  }

  /** A first local subscriber of `key`; false when it was wanted already. Announced once `confirmed`. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    return true;
  }

  /** The engine confirmed the subscription of `key`: announce it. True when a change is now pending. */
  confirmed(key: string): boolean {
    if (!this.keys.has(key) || this.announced.has(key)) return false;
    this.announced.add(key);
    if (!this.removed.delete(key)) this.added.add(key);
    return true;
  }

  /** The last local subscriber of `key` left: null when it was not wanted, else true when a change is now pending. */
  remove(key: string): boolean | null {
    if (!this.keys.delete(key)) return null;
    if (!this.announced.delete(key) || this.added.delete(key)) return false;
    this.removed.add(key);
    return true;
  }

  /** The changes pending since the last take (null: none). */
  take(): { added: string[]; removed: string[] } | null {
    if (this.added.size === 0 && this.removed.size === 0) return null;
    const changes = { added: [...this.added], removed: [...this.removed] };
    this.added.clear();
    this.removed.clear();
    return changes;
  }

  /** After a (re)subscription of everything: every local key counts as announced (a snapshot tells them all). */
  announceAll(): void {
    this.announced.clear();
    for (const key of this.keys) this.announced.add(key);
    this.added.clear();
    this.removed.clear();
  }

  announcedKeys(): string[] {
    return [...this.announced];
  }
}
