// A WebSocket's part in native pub/sub, and the one rule that keeps its counters exact: a message counted as a
// delivery is a message the socket took.
//
// uWS reports nothing per receiver of a publish and silently skips a socket that holds more than its own limit,
// so that limit must never be reached by a socket we count. Each socket keeps an upper bound of what uWS holds
// for it (every publish and every send adds to it; an exact read lowers it) and the native group asks `reserve`
// before each publish: a socket that could pass the hard cap is taken out of the topic first and its message
// counted as a drop. uWS's limit sits above the cap by what one turn may queue (`uwsSendLimit`), so a socket is
// judged against the soft limit and the cap once the turn's queued messages are written (exactly), not in the
// middle of a burst.
//
// uWS behaviour this relies on (uWebSockets.js 20.30, measured): a published message of 16 KiB or more is written
// at once, after the socket's queue; shorter ones are queued per socket and written every 32 messages and at the
// end of the event-loop turn (before setImmediate callbacks run); a send or a ping writes the socket's queue
// first; a socket that leaves its last topic loses its queue.
import type uWS from 'uWebSockets.js';
import type { BacklogLimits, TopicSocket } from '../delivery/receiver.js';
import type { PublishTopic } from '../delivery/native-topic-group.js';

/** uWS writes a published message this long at once; shorter ones wait in the socket's queue. */
const IMMEDIATE_BYTES = 16 * 1024;
/** Most bytes of short messages uWS queues for one socket before writing them (32 messages, frame headers in). */
const QUEUE_BYTES = 32 * (IMMEDIATE_BYTES + 4);

/** uWS's own send limit for sockets capped at `hard`: above it by what one turn can leave queued. */
export function uwsSendLimit(hard: number): number {
  return hard + 2 * QUEUE_BYTES;
}

/** One native publish: the bytes to every socket joined to topic `key` (what the native topic group calls). */
export function nativePublisher(app: uWS.TemplatedApp): PublishTopic {
  return (key, msg) => {
    app.publish(key, msg, true);
  };
}

/** Server-to-client frame header bytes (unmasked). */
function framed(bytes: number): number {
  return bytes + (bytes < 126 ? 2 : bytes < 65_536 ? 4 : 10);
}

/** The few uWS socket calls the rule needs (a uWS WebSocket, or a stand-in in tests). */
export interface NativeSocket {
  getBufferedAmount(): number;
  subscribe(topic: string): unknown;
  unsubscribe(topic: string): unknown;
  ping(): unknown;
}

/** What a topic socket asks of its link. */
export interface TopicOwner {
  readonly closed: boolean;
  /** The slow-consumer policy applies to it: its deliveries are shed until it drains. */
  readonly overLimit: boolean;
  readonly limits: BacklogLimits;
  /** Held more than the soft limit once the turn's queue was written. */
  fellBehind(): void;
  /** Would pass the hard cap: the slow-consumer policy applies at once. */
  overCap(): void;
}

/**
 * Sockets whose bound passed the limit during a turn, read again once the turn's queued messages are written. One
 * for the process (`turnJudge`): nothing in it belongs to one listener, and links need no field for it.
 */
export class TurnJudge {
  private readonly due: WsTopicSocket[] = [];
  private scheduled = false;
  private readonly run = (): void => {
    this.scheduled = false;
    const due = this.due.splice(0);
    for (const socket of due) socket.judge();
  };

  watch(socket: WsTopicSocket): void {
    this.due.push(socket);
    if (this.scheduled) return;
    this.scheduled = true;
    // uWS writes its queues at the end of the turn, before setImmediate callbacks: the read then is exact.
    setImmediate(this.run);
  }
}

/** The judge of every WebSocket listener of this process. */
export const turnJudge = new TurnJudge();

export class WsTopicSocket implements TopicSocket {
  /** At least what uWS holds for this socket, queue included: kept by publishes and sends, lowered by reads. */
  private bound = 0;
  /** Bytes of short publishes since the last point where the queue was surely empty. */
  private queued = 0;
  private topicCount = 0;
  private judging = false;

  /** Past this bound, a short message is let through only after a read (uWS's limit less what a turn queues). */
  private readonly sendLimit: number;

  constructor(
    private readonly socket: NativeSocket,
    private readonly owner: TopicOwner,
    private readonly judges: TurnJudge,
  ) {
    this.sendLimit = uwsSendLimit(owner.limits.hard) - QUEUE_BYTES;
  }

  get closed(): boolean {
    return this.owner.closed;
  }

  subscribe(key: string): void {
    this.socket.subscribe(key);
    this.topicCount++;
  }

  unsubscribe(key: string): void {
    if (this.owner.closed) return;
    if (--this.topicCount === 0 && this.queued > 0) {
      // Leaving its last topic, the socket would lose messages already counted for it: a ping writes them first.
      this.socket.ping();
      this.queued = 0;
    }
    this.socket.unsubscribe(key);
  }

  buffered(): number {
    return this.owner.closed ? 0 : this.socket.getBufferedAmount();
  }

  /**
   * A publish of `bytes` is about to reach this socket: true when uWS will write it (counted as a delivery),
   * false when the socket must leave the topic first (shed: over its limit, or closed).
   */
  reserve(bytes: number): boolean {
    const size = framed(bytes);
    const { soft, hard } = this.owner.limits;
    if (bytes >= IMMEDIATE_BYTES) {
      // Written at once behind the queue: read now, judged now against the cap (no turn's end to wait for).
      if (!this.read()) return false;
      if (this.bound > hard) return this.overCap();
      if (this.bound > soft) this.owner.fellBehind();
      this.queued = 0;
      this.bound += size;
      return true;
    }
    if (this.bound > this.sendLimit) {
      // A burst within one turn: read, and stop only what could reach uWS's own limit.
      if (!this.read()) return false;
      if (this.bound > this.sendLimit) return this.overCap();
    }
    this.bound += size;
    this.queued += size;
    if (this.bound > soft && !this.judging) {
      this.judging = true;
      this.judges.watch(this);
    }
    return true;
  }

  private overCap(): false {
    this.owner.overCap();
    return false;
  }

  /** A send of the link's own (it writes the queue first). */
  sent(bytes: number): void {
    this.bound += framed(bytes);
    this.queued = 0;
  }

  /** An exact read but for the queue; false when the socket cannot take native publishes now. */
  private read(): boolean {
    if (this.owner.closed || this.owner.overLimit) return false;
    this.bound = this.socket.getBufferedAmount() + Math.min(this.queued, QUEUE_BYTES);
    return true;
  }

  /** After the turn: the queue is written, so what uWS holds is exact; judged against the soft limit and the cap. */
  judge(): void {
    this.judging = false;
    if (this.owner.closed || this.owner.overLimit) return;
    this.bound = this.socket.getBufferedAmount();
    this.queued = 0;
    if (this.bound > this.owner.limits.hard) this.owner.overCap();
    else if (this.bound > this.owner.limits.soft) this.owner.fellBehind();
  }

  /** Drained (uWS's drain event): an exact read. */
  drained(): void {
    if (!this.owner.closed) this.read();
  }
}
