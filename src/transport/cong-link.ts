// An iosignal client over CongSocket: length-prefixed frames on a TCP (or TLS) socket (docs/protocol.md §1.2). The
// listener (cong.ts) hands its frames to a connection; this is the way back. Writes are batched per event-loop
// turn: one write per socket per turn, one copy for many small frames.
import type net from 'node:net';
import { encodeFrame } from '../protocol/congsocket.js';
import { PING_MSG, PONG_MSG } from '../protocol/messages.js';
import type { BacklogLimits } from '../delivery/receiver.js';
import type { Outbound } from '../delivery/outbound.js';
import type { Link, LinkOwner } from './link.js';

/** Frames this large on average are written one by one (under cork) instead of being copied together. */
const LARGE_CHUNK = 16 * 1024;
/**
 * Pending bytes that are handed to the socket at once rather than at the end of the turn: a burst fanned out in
 * one turn reaches the kernel as it goes, so the backlog judged by hasRoom is what the reader has not read, not
 * what this turn produced.
 */
const EAGER_FLUSH_BYTES = 64 * 1024;

/** Links with pending writes, flushed together once per event-loop turn. One per listener (per server). */
export class FlushQueue {
  private readonly dirty: CongLink[] = [];
  private scheduled = false;
  private readonly flushAll = (): void => {
    this.scheduled = false;
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
    dirty.length = 0;
  };

  add(link: CongLink): void {
    this.dirty.push(link);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }
}

export class CongLink implements Link {
  get transport(): 'cong' {
    return 'cong';
  }
  conn: LinkOwner | null = null;
  closed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the socket still held at the last flush; only ever too high, never too low, until re-read. */
  private backlog = 0;
  private ending = false;
  /** The slow-consumer policy applies to it: no room until it drains below half the soft limit. */
  private saturated = false;

  constructor(
    readonly socket: net.Socket,
    readonly limits: BacklogLimits,
    private readonly flushQueue: FlushQueue,
  ) {}

  send(msg: Uint8Array): boolean {
    return this.queue(encodeFrame(msg));
  }

  sendShared(out: Outbound): boolean {
    return this.queue(out.frame);
  }

  /**
   * Judged on what the reader has not taken (the socket's backlog plus this turn's few pending bytes): within the
   * hard cap, one more message of any size up to maxMessageSize is accepted, so a receiver holds at most the cap +
   * one message, and an idle receiver always gets a big message. Past the soft limit it is behind (timed by the
   * slow-consumer watch). The backlog is read again only when the cached figure says it might be over the soft limit.
   */
  hasRoom(_bytes: number): boolean {
    const { soft, hard } = this.limits;
    if (this.backlog + this.pendingBytes <= soft && !this.saturated) return true;
    const held = (this.backlog = this.socket.writableLength) + this.pendingBytes;
    if (this.saturated) {
      if (held > soft / 2) return false;
      this.saturated = false;
    }
    if (held <= soft) return true;
    if (held > hard) {
      this.conn?.overCap();
      return false;
    }
    this.conn?.fellBehind();
    return true;
  }

  buffered(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  /** A stream has no shared path to leave: it only stops taking deliveries until it drains. */
  saturate(): boolean {
    if (this.saturated || this.closed) return false;
    this.saturated = true;
    return true;
  }

  topics(): null {
    return null;
  }

  private queue(frame: Buffer): boolean {
    if (this.closed || this.ending) return false;
    if (this.pending.length === 0) this.flushQueue.add(this);
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    if (this.pendingBytes >= EAGER_FLUSH_BYTES) this.flush();
    return true;
  }

  flush(): void {
    const chunks = this.pending;
    if (chunks.length === 0 || this.socket.destroyed) return;
    const total = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (chunks.length === 1) {
      this.socket.write(chunks[0]!);
    } else if (total / chunks.length < LARGE_CHUNK) {
      // Many small frames: one copy is far cheaper than one stream write per frame.
      this.socket.write(Buffer.concat(chunks, total));
    } else {
      this.socket.cork();
      for (const chunk of chunks) this.socket.write(chunk);
      this.socket.uncork();
    }
    this.backlog = this.socket.writableLength;
  }

  probe(): void {
    this.send(PING_MSG);
  }

  answerPing(): void {
    this.send(PONG_MSG);
  }

  close(_reason: string): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.flush();
    this.socket.end();
    // A peer that never finishes its side must not keep the socket forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(_reason: string): void {
    if (this.closed) return;
    this.pending = [];
    this.pendingBytes = 0;
    this.socket.destroy();
  }
}
