// The tags of a connection's recent SIGNALs, kept as bytes and text: a device usually publishes to the same few
// tags again and again (a plain device's frame goes to each of its up to 16 channels in turn), so the next one is
// matched byte for byte instead of being validated and decoded anew. Handing out the same string object also lets
// the router's lookups reuse its cached hash.
import { signalTag } from '../protocol/messages.js';

/** Tags remembered: as many as a plain device may have channels, so one rotating over them always hits. */
export const TAG_MEMO_SIZE = 16;

export class TagMemo {
  private readonly bytes: Buffer[] = [];
  private readonly texts: string[] = [];
  /** The slot the next new tag replaces once every slot is taken (oldest first). */
  private next = 0;

  /** Tag of a SIGNAL / SIGNAL_E2E, or null when malformed (exactly as signalTag). */
  read(msg: Uint8Array): string | null {
    const length = msg[1];
    if (length !== undefined && msg.length >= length + 3) {
      for (let slot = 0; slot < this.bytes.length; slot++) {
        const bytes = this.bytes[slot]!;
        if (bytes.length !== length) continue;
        let i = 0;
        while (i < length && msg[2 + i] === bytes[i]) i++;
        if (i === length) return this.texts[slot]!;
      }
    }
    const tag = signalTag(msg);
    if (tag !== null) this.remember(Buffer.from(msg.subarray(2, 2 + msg[1]!)), tag);
    return tag;
  }

  private remember(bytes: Buffer, tag: string): void {
    if (this.bytes.length < TAG_MEMO_SIZE) {
      this.bytes.push(bytes);
      this.texts.push(tag);
      return;
    }
    this.bytes[this.next] = bytes;
    this.texts[this.next] = tag;
    this.next = (this.next + 1) % TAG_MEMO_SIZE;
  }
}
