// A plain WebSocket device as a link: the connection behind it is an iosig connection like any other (CID,
// quotas, metrics, login by certificate or bearer), and this link translates at the edge. What the broker
// sends becomes payload frames; what the device sends becomes SIGNALs from its CID on its channels.
import { CID_REQ_MSG, encodeTagMessage } from '../protocol/messages.js';
import { MSG } from '../protocol/codes.js';
import type { Link } from '../transport/link.js';
import { SEND_DROPPED, WsBacklog } from '../transport/ws-backlog.js';
import type { Outbound } from '../delivery/outbound.js';
import type { TopicSocket } from '../delivery/receiver.js';
import type { BacklogLimits } from '../options.js';
import { currentPublisher } from '../delivery/publisher.js';
import { frameForDevice, signalsFromDevice, type DeviceFrame, type PlainFormat } from './translate.js';

/** The few calls the link makes on its WebSocket (a uWS socket in the server, a stand-in in tests). */
export interface FrameSocket {
  /** uWS status: 1 written, 0 buffered, 2 dropped. */
  send(data: string | Uint8Array, isBinary: boolean): number;
  getBufferedAmount(): number;
  ping(): void;
  end(code?: number, reason?: string): void;
  close(): void;
}

export interface PlainRequest {
  channels: string[];
  format: PlainFormat;
}

/** WebSocket close reasons are at most 123 bytes. */
const CLOSE_REASON_BYTES = 120;

export class PlainLink extends WsBacklog<FrameSocket> implements Link {
  get transport(): 'ws' {
    return 'ws';
  }
  /** Shown by /api/status and the dashboard. */
  get kind(): 'plain' {
    return 'plain';
  }

  constructor(
    socket: FrameSocket,
    limits: BacklogLimits,
    readonly request: PlainRequest,
  ) {
    super(socket, limits);
  }

  /** After the connection exists: take a CID and subscribe the channels, as an iosignal client would. */
  start(): void {
    const conn = this.conn;
    if (!conn) return;
    conn.receive(CID_REQ_MSG);
    for (const tag of this.request.channels) conn.receive(encodeTagMessage(MSG.SUBSCRIBE, tag));
  }

  /** A frame from the device. */
  fromDevice(data: Buffer, isBinary: boolean): void {
    const conn = this.conn;
    if (!conn || this.closed) return;
    const input = signalsFromDevice(data, isBinary, this.request.format, this.request.channels);
    if (!input.ok) {
      conn.report(`plain: dropped ${input.reason}`);
      this.write({ data: JSON.stringify({ type: 'ERROR', error: input.reason }), binary: false });
      return;
    }
    for (const signal of input.signals) conn.receive(signal);
  }

  // ---- Link ----------------------------------------------------------------------------------------

  send(msg: Uint8Array): boolean {
    if (this.closed) return false;
    if (msg[0] === MSG.CID_RES && this.request.format === 'json') {
      // JSON devices learn their CID, so they can tell others where to reach them.
      return this.write({ data: JSON.stringify({ type: 'READY', cid: Buffer.from(msg.subarray(1)).toString('utf8') }), binary: false });
    }
    return this.deliver(msg);
  }

  sendShared(out: Outbound): boolean {
    return this.closed ? false : this.deliver(out.msg);
  }

  private deliver(msg: Uint8Array): boolean {
    // Handshake, QUOTA_LEVEL, PONG… mean nothing to a plain device: only signals become frames.
    if (msg[0] !== MSG.SIGNAL && msg[0] !== MSG.SIGNAL_E2E) return false;
    // Its own publish on a channel it listens to comes back in iosignal; a plain device does not want its echo
    // (a unicast to itself, tagged '@…', still arrives).
    const own = currentPublisher.cid !== '' && currentPublisher.cid === this.conn?.cid;
    if (own && msg[2] !== 0x40) return false;
    const frame = frameForDevice(msg, this.request.format, currentPublisher.cid);
    return frame ? this.write(frame) : false;
  }

  private write(frame: DeviceFrame): boolean {
    // Callers check hasRoom first, so a send uWS drops is one past the limit.
    return this.socket.send(frame.data, frame.binary) !== SEND_DROPPED;
  }

  /** Never in native topics: its frames differ from the bytes iosignal subscribers share. */
  topics(): TopicSocket | null {
    return null;
  }

  probe(): void {
    if (!this.closed) this.socket.ping();
  }

  answerPing(): void {
    // A plain device never sends PING messages; its WebSocket pings are answered by uWS.
  }

  close(reason: string): void {
    if (this.closed) return;
    const bytes = Buffer.from(reason, 'utf8');
    this.socket.end(1000, bytes.length > CLOSE_REASON_BYTES ? bytes.subarray(0, CLOSE_REASON_BYTES).toString('utf8') : reason);
  }

  destroy(_reason: string): void {
    if (!this.closed) this.socket.close();
  }
}
