// Messages that arrive while a login is being decided, kept in order and bounded by count and bytes (a
// client that floods meanwhile is closed). Replay takes them one at a time, so a replayed AUTH_REQ that
// starts a new hold leaves the rest where they are: nothing is ever copied or spread.

export const HOLD_LIMITS = { messages: 1024, bytes: 1024 * 1024 } as const;

export class HoldQueue {
  private items: Buffer[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly maxMessages: number = HOLD_LIMITS.messages,
    private readonly maxBytes: number = HOLD_LIMITS.bytes,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Keeps a copy of `msg`; false (and nothing kept) when that would pass either bound. */
  push(msg: Uint8Array): boolean {
    if (this.size >= this.maxMessages || this.bytes + msg.length > this.maxBytes) return false;
    this.items.push(Buffer.from(msg));
    this.bytes += msg.length;
    return true;
  }

  /** The oldest held message, or undefined when empty. */
  shift(): Buffer | undefined {
    if (this.head >= this.items.length) return undefined;
    const msg = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Buffer;
    this.bytes -= msg.length;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    return msg;
  }

  describeBounds(): string {
    return `${this.maxMessages} messages / ${this.maxBytes} bytes`;
  }
}
