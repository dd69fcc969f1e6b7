// Backpressure of one WebSocket, shared by the iosignal link and the plain-device link: both judge a receiver on
// what its socket has not written yet, and both resume once half the limit has drained.
import type { LinkOwner } from './link.js';

/** uWS `send` status: 1 = written, 0 = buffered (backpressure), 2 = dropped (over uWS's maxBackpressure, our limit). */
export const SEND_DROPPED = 2;

/** The one call the rule needs from a WebSocket (uWS, or a stand-in in tests). */
export interface BacklogSocket {
  getBufferedAmount(): number;
}

export abstract class WsBacklog<S extends BacklogSocket> {
  conn: LinkOwner | null = null;
  closed = false;
  /** Over the backpressure limit under the drop policy: no room until it drains. */
  overLimit = false;

  constructor(
    protected readonly socket: S,
    protected readonly maxBackpressure: number,
  ) {}

  /**
   * Judged on what the socket has not written yet: a socket within the limit takes one more message of any size
   * up to maxMessageSize (uWS's maxBackpressure is the same limit, so a socket holds at most limit + one message).
   * The limit here is webSocketBufferLimit(maxBackpressure), see options.ts.
   */
  hasRoom(): boolean {
    return !this.overLimit && !this.closed && this.socket.getBufferedAmount() <= this.maxBackpressure;
  }

  buffered(): number {
    return this.closed ? 0 : this.socket.getBufferedAmount();
  }

  saturate(): boolean {
    if (this.overLimit || this.closed) return false;
    this.overLimit = true;
    return true;
  }

  /** Called on drain: resume deliveries once half the limit has been written out. */
  relieve(): void {
    if (!this.overLimit || this.closed) return;
    if (this.socket.getBufferedAmount() > this.maxBackpressure / 2) return;
    this.overLimit = false;
    this.conn?.deliveryChanged();
  }
}
