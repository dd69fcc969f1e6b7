// A login whose CID is online already (§4.8, Q21): the policy, and the question keep-old asks — is the old
// session still there? After a Wi-Fi drop the old socket can stay open on the server for a whole keepalive
// period, and the device must not be refused until then. The old session gets a probe (WebSocket ping frame /
// CongSocket PING) and a short deadline; any sign of life from it (a message, a pong) before the deadline means it
// is live. Kept free of connection internals so the cluster can ask the same question of a session on another
// node. The rule itself is the broker's (broker/cid-claims.ts).
import { systemClock, type Clock } from '../clock.js';

/** A session that can be probed. */
export interface Probeable {
  readonly closed: boolean;
  /** Sends the keepalive probe. */
  probe(): void;
  /** Calls `heard` once at the next sign of life; returns a function that cancels the wait. */
  onceHeard(heard: () => void): () => void;
}

/** Resolves true when `session` shows a sign of life within `deadlineMs`, false when it stays silent or closes. */
export function probeLiveness(session: Probeable, deadlineMs: number, clock: Clock = systemClock): Promise<boolean> {
  if (session.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (alive: boolean): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      cancel();
      resolve(alive);
    };
    const timer = clock.after(deadlineMs, () => settle(false));
    const cancel = session.onceHeard(() => settle(!session.closed));
    session.probe();
  });
}
