// An iosignal client over a uWS WebSocket: one binary frame = one message (docs/protocol.md §1.1). The listener
// (ws.ts) hands it to a connection; this is the way back to the socket.
import type uWS from 'uWebSockets.js';
import { PONG_MSG } from '../protocol/messages.js';
import type { BacklogLimits } from '../delivery/receiver.js';
import type { Outbound } from '../delivery/outbound.js';
import type { Link } from './link.js';
import { SEND_DROPPED, WsBacklog } from './ws-backlog.js';
import { WsTopicSocket, turnJudge, type TopicOwner } from './ws-topics.js';

/**
 * Slow consumers: the link judges its own sends (hasRoom before each, uWS's send status after), and native
 * publishes reach it through its topic socket (ws-topics.ts), which keeps every counted delivery a written one.
 * A link over the limit under the drop policy leaves the native topics (its connection stops sharing bytes), so
 * its deliveries come through the stream path, where they are dropped and counted until it drains.
 */
export class WsLink<U = unknown> extends WsBacklog<uWS.WebSocket<U>> implements Link, TopicOwner {
  /** Made on the first subscription: idle connections stay small. */
  private native: WsTopicSocket | null = null;

  constructor(socket: uWS.WebSocket<U>, limits: BacklogLimits) {
    super(socket, limits);
  }

  // A getter, not a field: one property fewer on every connection.
  get transport(): 'ws' {
    return 'ws';
  }

  /** Callers check hasRoom first; uWS's own limit is above the hard cap, so uWS drops nothing we let through. */
  send(msg: Uint8Array): boolean {
    if (this.closed) return false;
    const status = this.socket.send(msg, true);
    this.native?.sent(msg.length);
    return status !== SEND_DROPPED;
  }

  sendShared(out: Outbound): boolean {
    return this.send(out.msg);
  }

  /** Native topics deliver to everyone alike, so an over-limit link must not be in them. */
  topics(): WsTopicSocket | null {
    if (this.closed || this.overLimit) return null;
    return (this.native ??= new WsTopicSocket(this.socket, this, turnJudge));
  }

  fellBehind(): void {
    this.conn?.fellBehind();
  }

  overCap(): void {
    this.conn?.overCap();
  }

  override relieve(): void {
    this.native?.drained();
    super.relieve();
  }

  probe(): void {
    if (this.closed) return;
    this.socket.ping();
    this.native?.sent(0);
  }

  answerPing(): void {
    // uWS.js exposes no pong() call, so a PING message gets a PONG message back (allowed by Q32).
    if (!this.closed) this.send(PONG_MSG);
  }

  close(_reason: string): void {
    if (this.closed) return;
    this.socket.end();
  }

  destroy(_reason: string): void {
    if (this.closed) return;
    this.socket.close();
  }
}
