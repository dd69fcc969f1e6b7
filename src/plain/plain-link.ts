// A plain WebSocket device as a link: the connection behind it is an iosig connection like any other (CID,
// quotas, metrics, login by certificate or bearer), and this link translates at the edge. What the broker
// sends becomes payload frames; what the device sends becomes SIGNALs from its CID on its channels.
// Both ways run inside the connection's containment, and both are bounded (issue 16 items 1 and 5): a frame in
// asks for at most --max-message bytes of publishing in all and the frames of one turn for at most
// SIGNALS_PER_TURN publishes (frame-pacer.ts), and a frame out is built once per publish and format, sized
// against the device's budget before it is built.
import { CID_REQ_MSG, encodeTagMessage } from '../protocol/messages.js';
import { MSG } from '../protocol/codes.js';
import type { Link } from '../transport/link.js';
import type { BacklogLimits } from '../delivery/receiver.js';
import { SEND_DROPPED, WsBacklog } from '../transport/ws-backlog.js';
import { Outbound } from '../delivery/outbound.js';
import type { TopicSocket } from '../delivery/receiver.js';
import type { WsDoor } from '../transport/ws.js';
import type { Stats } from '../metrics/stats.js';
import { ThrottledLog } from '../logging/throttled-log.js';
import { frameBound, frameBuilder, type DeviceFrame } from './to-device.js';
import { FrameSignals, payloadBytes, readDeviceFrame, targetTags } from './from-device.js';
import { FramePacer } from './frame-pacer.js';
import { parsePlainRequest, type FrameSocket, type PlainRequest } from './request.js';

export type { FrameSocket, PlainRequest };

/** A plain device's own sizes; its backlog is judged on the link's BacklogLimits, as an iosignal WebSocket's. */
export interface PlainLimits {
  /**
   * --max-message. A device holds at most its hard cap (webSocketBufferLimit of --max-backlog) + this, as an
   * iosignal WebSocket may: a frame that would take it past that is dropped. It is also what one frame from the
   * device may publish in all.
   */
  maxMessageSize: number;
  /** --max-plain-json: the largest JSON envelope parsed, and the largest JSON payload shown as JSON. */
  maxJson: number;
}

/** A plain device's sizes under these server options. */
export function plainLimits(options: { readonly maxMessageSize: number; readonly maxPlainJson: number }): PlainLimits {
  return { maxMessageSize: options.maxMessageSize, maxJson: options.maxPlainJson };
}

/**
 * The plain endpoint as a door of the WebSocket listener: requests under `prefix` (`/plain/<channels>`) get a
 * PlainLink; null when the endpoint is off.
 */
export function plainEndpoint(
  options: { readonly plainPrefix: string | null; readonly maxMessageSize: number; readonly maxPlainJson: number },
  stats: Stats,
): WsDoor | null {
  const prefix = options.plainPrefix;
  if (prefix === null) return null;
  const sizes = plainLimits(options);
  return {
    prefix,
    request: (path, query) => {
      const parsed = parsePlainRequest(path, query, prefix);
      return parsed.ok ? { ok: true, request: { channels: parsed.channels, format: parsed.format } satisfies PlainRequest } : parsed;
    },
    link: (socket, limits, request) => new PlainLink(socket, limits, sizes, request as PlainRequest, stats),
  };
}

/** WebSocket close reasons are at most 123 bytes. */
const CLOSE_REASON_BYTES = 120;


/** A JSON device is told why a frame was refused only while its socket holds at most this much unread. */
export const ERROR_ROOM = 64 * 1024;

export class PlainLink extends WsBacklog<FrameSocket> implements Link {
  get transport(): 'ws' {
    return 'ws';
  }
  /** Shown by /api/status and the dashboard. */
  get kind(): 'plain' {
    return 'plain';
  }

  /** The device's channels as UTF-8 (the targets of its frames). */
  private readonly targets: Buffer[];
  /** Builds this device's format of a delivery; the key of that frame on the shared Outbound. */
  private readonly build: (out: Outbound) => DeviceFrame | null;
  /** Refused frames are logged once a second at most: a device cannot flood the log. */
  private refusals: ThrottledLog | null = null;
  /** The device's frames, at most SIGNALS_PER_TURN publishes' worth per event-loop turn. */
  private readonly pacer: FramePacer;

  constructor(
    socket: FrameSocket,
    limits: BacklogLimits,
    private readonly sizes: PlainLimits,
    readonly request: PlainRequest,
    private readonly stats: Stats,
  ) {
    super(socket, limits);
    this.targets = targetTags(request.channels);
    this.build = frameBuilder(request.format, sizes.maxJson);
    this.pacer = new FramePacer(
      (data, binary) => this.fromDeviceNow(data, binary),
      () => !this.closed && this.conn !== null,
      (waiting) => this.conn?.close(`flooding: ${waiting} bytes of frames wait to be published, at most ${sizes.maxMessageSize}`),
      sizes.maxMessageSize,
    );
  }

  /** After the connection exists: take a CID and subscribe the channels, as an iosignal client would. */
  start(): void {
    const conn = this.conn;
    if (!conn) return;
    conn.receive(CID_REQ_MSG);
    for (const tag of this.request.channels) conn.receive(encodeTagMessage(MSG.SUBSCRIBE, tag));
  }

  /** A frame from the device (a view valid during the call): published now, or in a later turn, in order. */
  fromDevice(data: Uint8Array, isBinary: boolean): void {
    if (!this.conn || this.closed) return;
    this.pacer.push(data, isBinary);
  }

  /** Publishes one frame; returns what it cost in signals (a refused frame counts as one). */
  private fromDeviceNow(data: Uint8Array, isBinary: boolean): number {
    const conn = this.conn;
    if (!conn || this.closed) return 0;
    // Inside the connection's containment: whatever goes wrong costs this device only.
    try {
      return this.translateIn(data, isBinary);
    } catch (err) {
      conn.internalError(`on a ${data.length}-byte plain frame`, err);
      return 1;
    }
  }

  private translateIn(data: Uint8Array, isBinary: boolean): number {
    const input = readDeviceFrame(data, isBinary, this.request.format, this.targets, this.sizes.maxJson);
    if (!input.ok) return this.refuse(input.reason);
    // Bounded before anything is built: one frame publishes at most one largest message's worth of bytes.
    const bytes = payloadBytes(input);
    const work = bytes * input.targets.length;
    if (work > this.sizes.maxMessageSize) {
      return this.refuse(
        `a frame of ${bytes} bytes to ${input.targets.length} targets is ${work} bytes of publishing; at most ${this.sizes.maxMessageSize} per frame`,
      );
    }
    this.conn?.receiveFrame(new FrameSignals(input));
    return input.targets.length;
  }

  /** A frame that is not published: counted, logged (throttled), and a JSON device is told why. Costs one. */
  private refuse(reason: string): number {
    this.stats.badMessages++;
    (this.refusals ??= new ThrottledLog((line) => this.conn?.report(line))).write(`plain: dropped ${reason}`);
    // Only to a device that reads what it is told: one that floods bad frames and never reads would otherwise
    // have the server hold its ERRORs up to its hard cap, outside the slow-consumer rules (60 000 one-byte frames
    // left 5.7 MB of ERRORs held for one paused device).
    if (this.request.format === 'json' && this.socket.getBufferedAmount() <= ERROR_ROOM) this.write(jsonFrame({ type: 'ERROR', error: reason }));
    return 1;
  }

  /** A JSON device is told what the access rules refused (raw devices have no way to be told). */
  accessDenied(what: string): void {
    if (this.request.format === 'json' && !this.closed && this.hasRoom()) this.write(jsonFrame({ type: 'ERROR', error: `access denied: ${what}` }));
  }

  // ---- Link ----------------------------------------------------------------------------------------

  send(msg: Uint8Array): boolean {
    if (this.closed) return false;
    if (msg[0] === MSG.CID_RES && this.request.format === 'json') {
      // JSON devices learn their CID, so they can tell others where to reach them.
      return this.write(jsonFrame({ type: 'READY', cid: Buffer.from(msg.subarray(1)).toString('utf8') }));
    }
    // Only deliveries (shared) carry signals; a signal sent to this link alone has no publisher known here.
    return this.sendShared(new Outbound(msg, ''));
  }

  sendShared(out: Outbound): boolean {
    const conn = this.conn;
    if (this.closed || !conn) return false;
    // Runs inside the publisher's fan-out: a surprise in this device's translation closes this device, not the
    // publisher, and the fan-out goes on.
    try {
      return this.deliver(out, conn.cid);
    } catch (err) {
      conn.internalError('translating a delivery for a plain device', err);
      return false;
    }
  }

  private deliver(out: Outbound, cid: string): boolean {
    const msg = out.msg;
    // Handshake, QUOTA_LEVEL, PONG… mean nothing to a plain device: only signals become frames.
    if (msg[0] !== MSG.SIGNAL && msg[0] !== MSG.SIGNAL_E2E) return false;
    // Its own publish on a channel it listens to comes back in iosignal; a plain device does not want its echo
    // (a unicast to itself, tagged '@…', still arrives).
    if (cid !== '' && out.publisher === cid && msg[2] !== 0x40) return false;
    let frame = out.built(this.build);
    if (frame === undefined) {
      // Sized against this device's budget before it is built: a device with no room causes no translation.
      if (!this.fits(frameBound(out, this.request.format))) return this.dropped();
      frame = out.shared(this.build);
      this.stats.plainFramesBuilt++;
    }
    if (frame === null) return false;
    return this.fits(frame.data.length) ? this.write(frame) : this.dropped();
  }

  /**
   * True when `bytes` more keep the socket within its hard cap + one message: what an iosignal WebSocket may hold
   * (hasRoom lets one more message of up to --max-message through while it holds at most the cap).
   */
  private fits(bytes: number): boolean {
    return this.socket.getBufferedAmount() + bytes <= this.limits.hard + this.sizes.maxMessageSize;
  }

  /** A frame this device had no room for: dropped and counted, like a delivery over the limit under 'drop'. */
  private dropped(): false {
    this.stats.drops++;
    return false;
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

/** A small frame of the link's own (READY, ERROR). */
function jsonFrame(value: Record<string, string>): DeviceFrame {
  return { data: Buffer.from(JSON.stringify(value), 'utf8'), binary: false };
}
