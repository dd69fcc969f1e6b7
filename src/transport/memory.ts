// An in-process link: a pair of endpoints carrying whole messages, so the connection state machine, the router
// and the delivery groups run without sockets (tests, embedding). Both directions are asynchronous (batched
// per event-loop turn, in order), like a socket, so a handler that answers at once never re-enters the server.
import { EventEmitter } from 'node:events';
import type { Outbound } from '../delivery/outbound.js';
import type { BacklogLimits } from '../delivery/receiver.js';
import { PING_MSG, PONG_MSG } from '../protocol/messages.js';
import type { Link, LinkOwner } from './link.js';
import type { TransportKind } from '../info.js';
import type { PresentedIdentity } from '../guard/identity.js';

/** How an in-memory connection presents itself (`connectInMemory`). */
export interface MemoryLinkOptions {
  /** Which transport the connection believes it is on (text frames, keep-old login on cong…). Default 'ws'. */
  transport?: TransportKind;
  /** The transport is TLS (wss / TLS CongSocket). Default false. */
  tls?: boolean;
  /** Peer address the connection sees. Default '127.0.0.1'. */
  peerIp?: string;
  /** X-Forwarded-For / X-Forwarded-Proto, as a proxy in front of a WebSocket would send them. */
  forwardedFor?: string;
  forwardedProto?: string;
  /** A certificate or bearer identity, as a TLS handshake or an upgrade header would present it. */
  identity?: PresentedIdentity;
  /** The device id a verified client certificate names, presented beside a token `identity` (as on wss). */
  certificate?: string;
}

/** Messages for a paused endpoint pile up past `soft` (behind) up to `hard` bytes; then the link has no room. */
const DEFAULT_LIMITS: BacklogLimits = { soft: 16 * 1024 * 1024, hard: 64 * 1024 * 1024 };

/**
 * The client side of an in-memory link. Events: 'message' (Buffer: one whole protocol message), 'text' (string:
 * a WebSocket text frame, ws flavour only), 'ping' (a keepalive probe, answered automatically unless
 * `autoPong` is false), 'close' (reason: string, emitted once).
 */
export class MemoryEndpoint extends EventEmitter {
  closed = false;
  /** Answer keepalive probes like a WebSocket library does (ws flavour; on cong the probe is a PING message). */
  autoPong = true;
  /** @internal */
  link: MemoryLink | null = null;

  /** Sends one whole message to the server (copied). */
  send(msg: Uint8Array): void {
    this.link?.fromPeer(Buffer.from(msg));
  }

  /** Sends a WebSocket text frame (ws flavour). */
  sendText(text: string): void {
    this.link?.fromPeerText(text);
  }

  /** Stops taking messages: they queue on the server side, as in a socket's send buffer. */
  pause(): void {
    this.link?.pause(true);
  }

  resume(): void {
    this.link?.pause(false);
  }

  /** The peer goes away (like a socket closing); the server sees its link closed. */
  close(): void {
    this.link?.peerClosed();
  }

  /** The next message, or a rejection after `ms`. */
  next(ms = 2000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('message', onMessage);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const onMessage = (msg: Buffer): void => {
        clearTimeout(timer);
        resolve(msg);
      };
      this.once('message', onMessage);
    });
  }
}

/** @internal The server side of an in-memory pair. */
export class MemoryLink implements Link {
  conn: LinkOwner | null = null;
  closed = false;
  private toPeer: Buffer[] = [];
  private toPeerBytes = 0;
  private paused = false;
  private overLimit = false;
  private fromPeerQueue: (Buffer | string)[] = [];
  private ending: string | null = null;
  private scheduled = false;

  constructor(
    readonly transport: TransportKind,
    private readonly endpoint: MemoryEndpoint,
    readonly limits: BacklogLimits = DEFAULT_LIMITS,
  ) {
    endpoint.link = this;
  }

  // ---- server → peer ------------------------------------------------------------------------

  send(msg: Uint8Array): boolean {
    if (this.closed || this.ending !== null) return false;
    this.toPeer.push(Buffer.from(msg));
    this.toPeerBytes += msg.length;
    this.schedule();
    return true;
  }

  sendShared(out: Outbound): boolean {
    return this.send(out.msg);
  }

  buffered(): number {
    return this.toPeerBytes;
  }

  /** A reading endpoint takes everything at the next turn; a paused one is a socket buffer that fills up. */
  hasRoom(bytes: number): boolean {
    if (this.overLimit) return false;
    if (!this.paused) return true;
    const held = this.toPeerBytes + bytes;
    if (held <= this.limits.soft) return true;
    if (held > this.limits.hard) {
      this.conn?.overCap();
      return false;
    }
    this.conn?.fellBehind();
    return true;
  }

  saturate(): boolean {
    if (this.overLimit || this.closed) return false;
    this.overLimit = true;
    return true;
  }

  /** No native pub/sub in memory: every subscriber is on the stream path. */
  topics(): null {
    return null;
  }

  probe(): void {
    if (this.closed) return;
    if (this.transport === 'cong') {
      this.send(PING_MSG);
      return;
    }
    setImmediate(() => {
      if (this.closed) return;
      this.endpoint.emit('ping');
      if (this.endpoint.autoPong) this.alive();
    });
  }

  answerPing(): void {
    this.send(PONG_MSG);
  }

  close(reason: string): void {
    if (this.closed || this.ending !== null) return;
    this.ending = reason;
    this.schedule();
  }

  destroy(reason: string): void {
    if (this.closed) return;
    this.toPeer = [];
    this.toPeerBytes = 0;
    this.ending = reason;
    this.schedule();
  }

  // ---- peer → server ------------------------------------------------------------------------

  fromPeer(msg: Buffer): void {
    if (this.closed || this.ending !== null) return;
    this.fromPeerQueue.push(msg);
    this.schedule();
  }

  fromPeerText(text: string): void {
    if (this.closed || this.ending !== null || this.transport !== 'ws') return;
    this.fromPeerQueue.push(text);
    this.schedule();
  }

  pause(on: boolean): void {
    this.paused = on;
    if (!on) this.schedule();
  }

  peerClosed(): void {
    if (this.closed) return;
    this.ending ??= '';
    this.schedule();
  }

  private alive(): void {
    this.conn?.heard();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.pump());
  }

  /** One turn: the peer's messages in, then ours out, then the close if one is due. */
  private pump(): void {
    this.scheduled = false;
    if (this.closed) return;
    const incoming = this.fromPeerQueue;
    this.fromPeerQueue = [];
    for (const item of incoming) {
      if (this.closed) break;
      if (typeof item === 'string') this.conn?.receiveText(item, Buffer.byteLength(item));
      else this.conn?.receive(item);
    }
    if (!this.paused) this.flushToPeer();
    if (this.ending !== null && (this.paused ? this.toPeer.length === 0 : true)) this.finish(this.ending);
  }

  private flushToPeer(): void {
    const out = this.toPeer;
    this.toPeer = [];
    this.toPeerBytes = 0;
    for (const msg of out) {
      if (this.endpoint.closed) break;
      this.endpoint.emit('message', msg);
    }
    if (this.overLimit) {
      this.overLimit = false;
      this.conn?.deliveryChanged();
    }
  }

  private finish(reason: string): void {
    this.closed = true;
    this.toPeer = [];
    this.toPeerBytes = 0;
    this.endpoint.closed = true;
    this.endpoint.emit('close', reason);
    this.conn?.linkClosed();
  }
}

/** @internal A connected pair: the server side (link) and the client side (endpoint). */
export function memoryPair(transport: TransportKind, limits?: BacklogLimits): { link: MemoryLink; endpoint: MemoryEndpoint } {
  const endpoint = new MemoryEndpoint();
  const link = new MemoryLink(transport, endpoint, limits);
  return { link, endpoint };
}
