// Keeps one connection's messages in order when some of them take asynchronous work (sealing or opening a large
// encrypted message in the seal pool): what comes later waits behind it, so a small message never overtakes a
// big one. Used once per direction (outbound sends, inbound dispatch); with nothing pending a step runs at once.

type Entry =
  | { readonly kind: 'step'; readonly run: () => void; readonly bytes: number }
  | { readonly kind: 'work'; run: (() => void) | null; readonly bytes: number };

export class InOrder {
  #entries: Entry[] = [];
  #bytes = 0;
  /** While a step runs from the queue, what it adds goes right after it (before older queued entries). */
  #insertAt = -1;

  /**
   * @param limitBytes bytes that may wait before entries are refused; the entry that crosses it is still taken, so
   *   one message of any size is accepted when nothing waits (the bound is "limit + one message")
   * @param onError a step that threw (the queue carries on with the next one)
   */
  constructor(
    readonly limitBytes: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Something is pending: new steps must queue. */
  get busy(): boolean {
    return this.#entries.length > 0;
  }

  /** Bytes of the entries waiting (work included). */
  get queuedBytes(): number {
    return this.#bytes;
  }

  /** Would an entry be accepted now? Yes while less than the limit waits: the bound is limit + one entry. */
  accepts(): boolean {
    return this.#bytes === 0 || this.#bytes < this.limitBytes;
  }

  /** Runs `step` now if nothing is pending, else queues it. False (and nothing done) when over the byte limit. */
  run(step: () => void, bytes: number): boolean {
    if (!this.busy && this.#insertAt < 0) {
      step();
      return true;
    }
    return this.#add({ kind: 'step', run: step, bytes });
  }

  /**
   * Async work in the order: `then` gets its result (or `failed` its error) once everything before it has run;
   * later steps wait for it. False (and `work` ignored) when over the byte limit.
   */
  wait<T>(work: Promise<T>, then: (value: T) => void, failed: (err: unknown) => void, bytes: number): boolean {
    const entry: Entry = { kind: 'work', run: null, bytes };
    if (!this.#add(entry)) {
      work.catch(() => {}); // refused: its outcome is not wanted
      return false;
    }
    work.then(
      (value) => this.#settle(entry, () => then(value)),
      (err: unknown) => this.#settle(entry, () => failed(err)),
    );
    return true;
  }

  /** Forgets everything pending (the connection is gone); outstanding work is ignored when it ends. */
  clear(): void {
    this.#entries = [];
    this.#bytes = 0;
  }

  #add(entry: Entry): boolean {
    if (!this.accepts()) return false;
    this.#bytes += entry.bytes;
    if (this.#insertAt >= 0) this.#entries.splice(this.#insertAt++, 0, entry);
    else this.#entries.push(entry);
    return true;
  }

  #settle(entry: Entry & { kind: 'work' }, run: () => void): void {
    if (!this.#entries.includes(entry)) return; // cleared meanwhile
    entry.run = run;
    if (this.#entries[0] === entry && this.#insertAt < 0) this.#drain();
  }

  /** Runs ready entries from the front until the first unfinished work. */
  #drain(): void {
    while (this.#entries.length > 0) {
      const head = this.#entries[0]!;
      const run = head.run;
      if (!run) return;
      this.#entries.shift();
      this.#bytes -= head.bytes;
      this.#insertAt = 0;
      try {
        run();
      } catch (err) {
        this.onError(err);
      } finally {
        this.#insertAt = -1;
      }
    }
  }
}
