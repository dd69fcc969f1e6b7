// Plain WebSocket subscribers reached by one native uWS publish per channel: the bytes are copied by uWS
// straight into every socket. uWS reports nothing per receiver, so the group checks the sockets' backlog
// itself, on send: each publish looks at a few members, resuming where the previous publish stopped, so a
// receiver is checked at least once every (members / PRESSURE_CHECKS_PER_PUBLISH) publishes of its channel,
// and no timer ever walks the connections. uWS's own maxBackpressure is our limit: it skips any socket whose
// backlog is over it, so memory stays within limit + one message per socket even before a check finds it.
// Members found over the limit are not counted as deliveries until they leave (drop: to the stream group,
// where each delivery is judged; close: gone).
import type { Outbound } from './outbound.js';
import type { LocalGroup, LocalMembers } from './group.js';
import { DeliveryStats, type Backpressure, type Receiver, type TopicSocket } from './receiver.js';

/** Sockets whose backlog one publish looks at. */
export const PRESSURE_CHECKS_PER_PUBLISH = 8;

/** Publishes bytes to every socket joined to a topic (uWS `app.publish`). */
export type PublishTopic = (key: string, msg: Uint8Array) => void;

export class NativeTopicGroup implements LocalGroup {
  readonly name = 'native';
  readonly stats = new DeliveryStats();

  constructor(
    readonly publishTopic: PublishTopic,
    readonly backpressure: Backpressure,
  ) {}

  createMembers(key: string): NativeMembers {
    return new NativeMembers(this, key);
  }

  /** A receiver found over the limit: closed (counted once), or moved off the native path until it drains. */
  overLimit(receiver: Receiver): void {
    if (receiver.overLimit(this.backpressure.policy) && this.backpressure.policy === 'close') this.stats.slowConsumerCloses++;
  }

  get dropPolicy(): boolean {
    return this.backpressure.policy === 'drop';
  }
}

export class NativeMembers implements LocalMembers {
  /** Each receiver with the socket it joined the topic on (it may have none by the time it leaves). */
  private readonly sockets = new Map<Receiver, TopicSocket>();
  private cursor: Iterator<[Receiver, TopicSocket]> | null = null;
  /** Members found over the limit and not yet moved away: uWS skips them, so they are not counted as reached. */
  private readonly over = new Set<Receiver>();
  sentMessages = 0;
  sentBytes = 0;

  constructor(
    readonly group: NativeTopicGroup,
    readonly key: string,
  ) {}

  get size(): number {
    return this.sockets.size;
  }

  add(receiver: Receiver): boolean {
    const socket = receiver.topicSocket();
    if (!socket) return false;
    socket.subscribe(this.key);
    this.sockets.set(receiver, socket);
    return true;
  }

  delete(receiver: Receiver): void {
    const socket = this.sockets.get(receiver);
    if (!socket) return;
    this.sockets.delete(receiver);
    this.over.delete(receiver);
    socket.unsubscribe(this.key);
  }

  /** Every member gets the same bytes; `budget` is never below the size (the router keeps quotas off this path). */
  publish(out: Outbound, _budget: number): number {
    const n = this.sockets.size;
    if (n === 0) return 0;
    const len = out.msg.length;
    // Checked before the publish: a receiver is over only when a message comes and it has no room for it (one
    // big message may leave a healthy reader's backlog past the limit for a while; that is within its bound).
    this.checkPressure();
    this.group.publishTopic(this.key, out.msg);
    this.sentMessages++;
    this.sentBytes += len;
    const { stats } = this.group;
    const skipped = this.over.size;
    const reached = n - skipped;
    stats.deliveries += reached;
    stats.messagesOut += reached;
    stats.bytesOut += reached * len;
    if (this.group.dropPolicy) stats.drops += skipped;
    return n;
  }

  private checkPressure(): void {
    const limit = this.group.backpressure.limit;
    const checks = Math.min(PRESSURE_CHECKS_PER_PUBLISH, this.sockets.size);
    let cursor = (this.cursor ??= this.sockets.entries());
    for (let i = 0; i < checks; i++) {
      let next = cursor.next();
      if (next.done) {
        cursor = this.cursor = this.sockets.entries();
        next = cursor.next();
        if (next.done) return;
      }
      const [receiver, socket] = next.value;
      if (socket.buffered() > limit && !this.over.has(receiver)) {
        this.over.add(receiver);
        this.group.overLimit(receiver);
      }
    }
  }
}
