// Messages waiting for the server: a FIFO bounded in bytes. When it is full the oldest entries go
// first (the newest readings matter most) and are counted, so a long outage costs memory only up to the bound.

export class Outbox<T> {
  private items: { value: T; bytes: number }[] = [];
  private head = 0;
  private bytes = 0;
  /** Entries dropped because the box was full. */
  dropped = 0;
  droppedBytes = 0;

  constructor(readonly limitBytes: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  push(value: T, bytes: number): void {
    this.items.push({ value, bytes });
    this.bytes += bytes;
    while (this.bytes > this.limitBytes && this.size > 0) {
      const oldest = this.items[this.head++]!;
      this.bytes -= oldest.bytes;
      this.dropped++;
      this.droppedBytes += oldest.bytes;
    }
    this.compact();
  }

  /** The oldest entry, without removing it. */
  peek(): T | undefined {
    return this.items[this.head]?.value;
  }

  shift(): void {
    const first = this.items[this.head];
    if (!first) return;
    this.head++;
    this.bytes -= first.bytes;
    this.compact();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
