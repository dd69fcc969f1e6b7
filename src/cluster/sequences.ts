// Per-stream sequence numbers of the bus (issue 16 item 9). A stream is one sender's data on one Redis channel:
// a receiver subscribed to the channel gets every message of it, in order (one sender connection; Redis keeps a
// publisher's order per channel), so a jump in the numbers is exactly what it did not get.
//
// Sending side (ChannelSequences): the next number per channel. Channels come and go (a unicast channel per CID),
// so the table is kept in two generations: a channel used in the current or the previous generation keeps its
// count; one unused for a whole generation is forgotten, and starts again from 1 if used later. Receivers take a
// number that does not move forward as such a restart (Redis never delivers twice), never as a loss.
//
// Receiving side (StreamGaps): the next number expected per (sender, channel); the gap before a message is the
// count of envelopes lost on the way (in Redis's output buffer when it cut our subscription, or published while
// we were not subscribed after such a cut).

/** Channels per generation of the sending side's table (two generations are kept). */
export const SEQUENCE_GENERATION = 32_768;

export class ChannelSequences {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();

  /** Reserves `count` numbers on `channel`; returns the first. */
  take(channel: string, count: number): number {
    let next = this.current.get(channel);
    if (next === undefined) {
      next = this.previous.get(channel) ?? 1;
      if (this.current.size >= SEQUENCE_GENERATION) {
        this.previous = this.current;
        this.current = new Map();
      }
    }
    this.current.set(channel, next + count);
    return next;
  }
}

export class StreamGaps {
  /** Envelopes missed in all, and per sender node. */
  total = 0;
  readonly bySender = new Map<string, number>();
  /** sender → channel → the next number expected. */
  private readonly streams = new Map<string, Map<string, number>>();

  /**
   * A message of `count` envelopes numbered from `seq` arrived from `sender` on `channel`; returns how many
   * envelopes before it never arrived (0 when in order, or when the sender started counting again).
   */
  arrived(sender: string, channel: string, seq: number, count: number): number {
    let channels = this.streams.get(sender);
    if (!channels) this.streams.set(sender, (channels = new Map()));
    const expected = channels.get(channel);
    channels.set(channel, seq + count);
    if (expected === undefined || seq <= expected) return 0;
    const missed = seq - expected;
    this.total += missed;
    this.bySender.set(sender, (this.bySender.get(sender) ?? 0) + missed);
    return missed;
  }

  /** We (re)subscribed or unsubscribed `channel`: what came before says nothing about what comes next. */
  forgetChannel(channel: string): void {
    for (const channels of this.streams.values()) channels.delete(channel);
  }

  /** `sender` left or died: its streams end. */
  forgetSender(sender: string): void {
    this.streams.delete(sender);
  }
}
