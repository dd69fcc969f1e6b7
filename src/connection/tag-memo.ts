// The tag of a connection's last SIGNAL, kept as bytes and text: a device usually publishes to the same tag
// again and again, so the next one is matched byte for byte instead of being validated and decoded anew.
// Handing out the same string object also lets the router's lookups reuse its cached hash.
import { signalTag } from '../protocol/messages.js';

export class TagMemo {
  private bytes: Buffer | null = null;
  private text = '';

  /** Tag of a SIGNAL / SIGNAL_E2E, or null when malformed (exactly as signalTag). */
  read(msg: Uint8Array): string | null {
    const bytes = this.bytes;
    if (bytes !== null && msg.length >= bytes.length + 3 && msg[1] === bytes.length) {
      let i = 0;
      while (i < bytes.length && msg[2 + i] === bytes[i]) i++;
      if (i === bytes.length) return this.text;
    }
    const tag = signalTag(msg);
    if (tag !== null) {
      this.bytes = Buffer.from(msg.subarray(2, 2 + msg[1]!));
      this.text = tag;
    }
    return tag;
  }
}
