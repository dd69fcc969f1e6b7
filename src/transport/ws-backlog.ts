// Backpressure of one WebSocket, shared by the iosignal link and the plain-device link: both judge a receiver on
// what its socket has not written yet (against the soft limit and the hard cap, see slow-consumers.ts), and both
// resume once half the soft limit has drained.
import type { BacklogLimits } from '../delivery/receiver.js';
import type { LinkOwner } from './link.js';

/** uWS `send` status: 1 = written, 0 = buffered (backpressure), 2 = dropped (over uWS's maxBackpressure). */
export const SEND_DROPPED = 2;

/** The one call the rule needs from a WebSocket (uWS, or a stand-in in tests). */
export interface BacklogSocket {
  getBufferedAmount(): number;
}

const CLOSED = 1;
const OVER_LIMIT = 2;

export abstract class WsBacklog<S extends BacklogSocket> {
  conn: LinkOwner | null = null;
  /** `closed` and `overLimit` in one small integer: one field fewer on every WebSocket connection. */
  private flags = 0;

  constructor(
    protected readonly socket: S,
    readonly limits: BacklogLimits,
  ) {}

  /** The socket is gone (set by the listener on uWS's close). */
  get closed(): boolean {
    return (this.flags & CLOSED) !== 0;
  }

  set closed(on: boolean) {
    this.flags = on ? this.flags | CLOSED : this.flags & ~CLOSED;
  }

  /** The slow-consumer policy applies to it: no room until it drains. */
  get overLimit(): boolean {
    return (this.flags & OVER_LIMIT) !== 0;
  }

  private set overLimit(on: boolean) {
    this.flags = on ? this.flags | OVER_LIMIT : this.flags & ~OVER_LIMIT;
  }

  /**
   * Judged on what the socket has not written yet: a socket within the hard cap takes one more message of any size
   * up to maxMessageSize (uWS's own limit is above the cap, so uWS never drops what we let through).
   */
  hasRoom(): boolean {
    if (this.flags !== 0) return false;
    const held = this.socket.getBufferedAmount();
    if (held <= this.limits.soft) return true;
    if (held > this.limits.hard) {
      this.conn?.overCap();
      return false;
    }
    this.conn?.fellBehind();
    return true;
  }

  buffered(): number {
    return this.closed ? 0 : this.socket.getBufferedAmount();
  }

  saturate(): boolean {
    if (this.overLimit || this.closed) return false;
    this.overLimit = true;
    return true;
  }

  /** Called on drain: resume deliveries once half the soft limit has been written out. */
  relieve(): void {
    if (!this.overLimit || this.closed) return;
    if (this.socket.getBufferedAmount() > this.limits.soft / 2) return;
    this.overLimit = false;
    this.conn?.deliveryChanged();
  }
}
