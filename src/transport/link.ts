// What the connection state machine needs from a transport. A link knows sockets, not tags.
import type { Outbound } from '../delivery/outbound.js';
import type { TopicSocket } from '../delivery/receiver.js';

export type TransportKind = 'ws' | 'cong';

export interface Link {
  readonly transport: TransportKind;
  /** Sends one protocol message; false when it was not written (closed link). */
  send(msg: Uint8Array): boolean;
  /** Sends a message that other receivers get too (CongSocket links reuse its one frame). */
  sendShared(out: Outbound): boolean;
  /** True when `bytes` more may be queued without passing the backpressure limit (cheap: called per delivery). */
  hasRoom(bytes: number): boolean;
  /**
   * Marks the link full under the 'drop' policy: it leaves native topics and has no room until it drains, then
   * tells its connection (deliveryChanged). False when it was already marked or cannot be (no such state).
   */
  saturate(): boolean;
  /** Native pub/sub on this link when it can take shared bytes now (uWS WebSocket, not over its limit); else null. */
  topics(): TopicSocket | null;
  /** Keepalive probe: a WebSocket ping frame, or a PING message on CongSocket. */
  probe(): void;
  /** Answer to a PING message: a WebSocket pong frame, or a PONG message on CongSocket. */
  answerPing(): void;
  /** Graceful close (WebSocket close frame / TCP FIN after pending writes). */
  close(reason: string): void;
  /** Immediate teardown. */
  destroy(reason: string): void;
}
