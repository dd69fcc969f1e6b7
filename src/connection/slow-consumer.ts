// What a session needs of the slow-consumer watch (broker/slow-consumers.ts keeps it), and what the watch needs of
// a session: a receiver whose backlog passed the soft limit is timed, one past the hard cap gets the policy at once,
// and a verdict that closes a session is carried out a few per event-loop turn.
import type { SlowConsumerPolicy } from '../policies.js';
import type { BacklogLimits } from '../delivery/receiver.js';

/** What the watch needs of a receiver (a session). */
export interface Watched {
  /** Bytes written to it that it has not read (its socket's backlog). */
  backlog(): number;
  /** What its backlog is judged against: the soft limit (behind) and the hard cap. */
  readonly backlogLimits: BacklogLimits;
  /** The policy applies: closed (counted by the caller's close) or its deliveries dropped until it drains. */
  overLimit(policy: SlowConsumerPolicy): boolean;
  readonly closed: boolean;
}

export interface SlowConsumerWatch {
  /** A receiver's backlog passed the soft limit (links report it on a send or after a turn; repeats are cheap). */
  fellBehind(receiver: Watched): void;
  /** A receiver's backlog passed the hard cap: the policy at once. */
  overCap(receiver: Watched): void;
  /** A receiver went away. */
  forget(receiver: Watched): void;
  /** A slow consumer is being closed: `line` goes to the log (a few a second at most), `close` runs in its turn. */
  closeSoon(line: string, close: () => void): void;
}
