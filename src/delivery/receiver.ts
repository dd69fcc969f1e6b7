// What delivery groups need from the receivers they hold.
import type { Outbound } from './outbound.js';

/** What a receiver's backlog (bytes written to it that it has not read) is judged against. */
export interface BacklogLimits {
  /** Past it the receiver is behind (the slow-consumer watch times it). */
  readonly soft: number;
  /** Past it the slow-consumer policy applies at once. */
  readonly hard: number;
}

/** A native pub/sub socket (a uWS WebSocket): joined to topics, written by one publish per topic. */
export interface TopicSocket {
  readonly closed: boolean;
  subscribe(key: string): void;
  unsubscribe(key: string): void;
  /** Bytes the socket has not written yet. */
  buffered(): number;
  /**
   * Asked before each publish of `bytes` to a topic it joined: true when the socket will surely take the message
   * (so it counts as a delivery); false when it must leave the topic first (over its limit, or closed).
   */
  reserve(bytes: number): boolean;
}

/** A local subscriber as a group sees it (a Connection). */
export interface Receiver {
  /** Writes a message shared with other receivers (sealed first for an encrypted session); bytes written, 0 if not. */
  deliver(out: Outbound): number;
  /** True when `bytes` more may be queued for this receiver (within its hard cap, not under the policy). */
  hasRoom(bytes: number): boolean;
  /** Native topics this receiver can share plain bytes on right now, or null (encrypted, over its limit, no uWS). */
  topicSocket(): TopicSocket | null;
}

