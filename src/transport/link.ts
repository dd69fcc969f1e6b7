// What the connection state machine needs from a transport. A link knows sockets, not tags.
import { encodeFrame } from '../protocol/congsocket.js';

export type TransportKind = 'ws' | 'cong';

/** One message shared by many receivers: the CongSocket frame is built once, on first need. */
export class Outbound {
  private framed: Buffer | undefined;
  constructor(readonly msg: Uint8Array) {}
  get frame(): Buffer {
    return (this.framed ??= encodeFrame(this.msg));
  }
}

export interface Link {
  readonly transport: TransportKind;
  /** Sends one protocol message; false when it was dropped (closed link or slow consumer). */
  send(msg: Uint8Array): boolean;
  /** Sends a message that other receivers get too. */
  sendShared(out: Outbound): boolean;
  /** Keepalive probe: a WebSocket ping frame, or a PING message on CongSocket. */
  probe(): void;
  /** Answer to a PING message: a WebSocket pong frame, or a PONG message on CongSocket. */
  answerPing(): void;
  /** Graceful close (WebSocket close frame / TCP FIN after pending writes). */
  close(reason: string): void;
  /** Immediate teardown. */
  destroy(reason: string): void;
  /** Joins the transport's native pub/sub topic; false when it has none or cannot take it now. */
  joinTopic(key: string): boolean;
  leaveTopic(key: string): void;
  /** Bytes waiting to be written. */
  buffered(): number;
  /** Applies the slow-consumer policy to sends the link cannot observe one by one (native publishes). */
  checkPressure?(): void;
}
