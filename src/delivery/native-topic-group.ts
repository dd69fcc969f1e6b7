// Plain WebSocket subscribers reached by one native uWS publish per channel: the bytes are copied by uWS
// straight into every socket. uWS reports nothing per receiver, so before each publish every member's topic
// socket says whether it will surely take the message (ws-topics.ts keeps that answer exact and cheap: a few
// additions per member, an occasional read of the socket's backlog). A member that will not is taken out of the
// topic before the publish and its message counted as a drop; so deliveries count exactly what sockets took.
// A member shed this way stays listed here (its messages counted as drops) until the slow-consumer policy has
// moved it away (drop: to the stream group, where each delivery is judged until it drains; close: gone).
import type { Outbound } from './outbound.js';
import type { LocalGroup, LocalMembers } from './group.js';
import type { Receiver, TopicSocket } from './receiver.js';
import type { Stats } from '../metrics/stats.js';

/** Publishes bytes to every socket joined to a topic (uWS `app.publish`). */
export type PublishTopic = (key: string, msg: Uint8Array) => void;

export class NativeTopicGroup implements LocalGroup {
  readonly name = 'native';

  constructor(
    readonly publishTopic: PublishTopic,
    readonly stats: Stats,
  ) {}

  createMembers(key: string): NativeMembers {
    return new NativeMembers(this, key);
  }
}

export class NativeMembers implements LocalMembers {
  /** Members in the topic, with their sockets at the same index (arrays: the publish loop walks them). */
  private readonly receivers: Receiver[] = [];
  private readonly sockets: TopicSocket[] = [];
  private readonly index = new Map<Receiver, number>();
  /** Members taken out of the topic as over their limit, not yet moved away: every publish is a drop for each. */
  private shed: Set<Receiver> | null = null;
  sentMessages = 0;
  sentBytes = 0;

  constructor(
    readonly group: NativeTopicGroup,
    readonly key: string,
  ) {}

  get size(): number {
    return this.receivers.length + (this.shed?.size ?? 0);
  }

  add(receiver: Receiver): boolean {
    if (this.index.has(receiver)) return true;
    const socket = receiver.topicSocket();
    if (!socket) return false;
    socket.subscribe(this.key);
    this.index.set(receiver, this.receivers.length);
    this.receivers.push(receiver);
    this.sockets.push(socket);
    return true;
  }

  delete(receiver: Receiver): void {
    if (this.shed?.delete(receiver)) return;
    const at = this.index.get(receiver);
    if (at === undefined) return;
    const socket = this.sockets[at]!;
    this.removeAt(at);
    socket.unsubscribe(this.key);
  }

  /** Every member gets the same bytes; `budget` is never below the size (the router keeps quotas off this path). */
  publish(out: Outbound, _budget: number): number {
    const { sockets } = this;
    const len = out.msg.length;
    // Backwards, so that shedding (a swap with the last member) never skips one.
    for (let i = sockets.length - 1; i >= 0; i--) if (!sockets[i]!.reserve(len)) this.shedAt(i);
    const reached = sockets.length;
    const shed = this.shed?.size ?? 0;
    if (reached > 0) {
      this.group.publishTopic(this.key, out.msg);
      this.sentMessages++;
      this.sentBytes += len;
    }
    const { stats } = this.group;
    stats.deliveries += reached;
    stats.messagesOut += reached;
    stats.bytesOut += reached * len;
    stats.drops += shed;
    return reached + shed;
  }

  /**
   * Takes a member out of the topic before a publish it would not surely take (its socket has told the
   * slow-consumer watch why); until the policy moves it away, its messages are drops.
   */
  private shedAt(at: number): void {
    const receiver = this.receivers[at]!;
    const socket = this.sockets[at]!;
    this.removeAt(at);
    socket.unsubscribe(this.key);
    // A closed socket is out of every topic already and takes nothing: nothing to count.
    if (!socket.closed) (this.shed ??= new Set()).add(receiver);
  }

  private removeAt(at: number): void {
    const last = this.receivers.length - 1;
    const receiver = this.receivers[at]!;
    if (at !== last) {
      const moved = this.receivers[last]!;
      this.receivers[at] = moved;
      this.sockets[at] = this.sockets[last]!;
      this.index.set(moved, at);
    }
    this.receivers.pop();
    this.sockets.pop();
    this.index.delete(receiver);
  }
}
