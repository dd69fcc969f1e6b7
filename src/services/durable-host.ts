// What the `history` service and sudo's durable-state commands reach of the broker (ServiceHost.durable).
import type { AdminTarget } from '../store/admin.js';
import type { Caller } from './service.js';

/** A place in a channel's history: every signal up to `offset`, as numbered in `epoch`. */
export interface HistoryPosition {
  readonly epoch: string;
  readonly offset: number;
}

/** What the `history` service and sudo's durable-state commands reach. */
export interface DurableHost {
  readonly admin: AdminTarget;
  /**
   * The caller's session subscribes to `tag` with positions since `from` (null: from now): the missed signals as
   * SIGNAL_AT, then live ones. `reason` says why it could not recover (it is subscribed from now on anyway).
   */
  subscribeSince(caller: Caller, tag: string, from: HistoryPosition | null): Promise<{ ok: boolean; reason?: string; position: HistoryPosition | null }>;
  /** Ends a positioned subscription; false when there was none. */
  unsubscribePositioned(caller: Caller, tag: string): boolean;
  /** Where the channel of `tag` (as the caller names it) stands; null when nothing of it is durable. */
  position(caller: Caller, tag: string): HistoryPosition | null;
  /** The channel key `tag` names for the caller (its home prefix applied). */
  keyOf(caller: Caller, tag: string): string | null;
  /** The access rules let the caller's session read `tag` (subscribe to it): a channel's past needs what its present needs. */
  mayRead(caller: Caller, tag: string): boolean;
}

