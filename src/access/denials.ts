// What a denial leaves behind: a count per right (`iosig_acl_denials_total{right}`) and a log line, at most
// `linesPerSecond` of them a second from all connections (a device retrying a denied publish in a loop must not
// flood the log); the next line written says how many were not.
import { ThrottledLog } from '../logging/throttled-log.js';
import { escapeToken } from '../logging/escape.js';
import { RIGHTS, type Right } from './rights.js';

export const DENIAL_LINES_PER_SECOND = 10;

/** A zero count per right. */
export const newDenialCounts = (): Record<Right, number> => Object.fromEntries(RIGHTS.map((r) => [r, 0])) as Record<Right, number>;

export class AccessDenials {
  readonly counts: Record<Right, number>;
  private readonly lines: ThrottledLog;

  /** `counts`: where the counts live (the broker's Stats), else a record of its own. */
  constructor(log: (line: string) => void, linesPerSecond = DENIAL_LINES_PER_SECOND, counts?: Record<Right, number>) {
    this.lines = new ThrottledLog(log, 1000, linesPerSecond);
    this.counts = counts ?? newDenialCounts();
  }

  /** One denial: `who` names the connection (`#12 cid D1 did dev1`), `what` the object as the client named it. */
  record(right: Right, who: string, what: string, now = Date.now()): void {
    this.counts[right]++;
    this.lines.write(`access denied: ${right} ${escapeToken(what)} for ${who}`, undefined, now);
  }
}
