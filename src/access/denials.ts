// What a denial leaves behind: a count per right (`iosig_acl_denials_total{right}`) and a log line, at most
// `linesPerSecond` of them a second from all connections (a device retrying a denied publish in a loop must not
// flood the log); the next line written says how many were not.
import { ThrottledLog } from '../logging/throttled-log.js';
import { escapeToken } from '../logging/escape.js';
import { RIGHTS, type Right } from './rights.js';

export const DENIAL_LINES_PER_SECOND = 10;

export class AccessDenials {
  readonly counts = Object.fromEntries(RIGHTS.map((r) => [r, 0])) as Record<Right, number>;
  private readonly lines: ThrottledLog;

  constructor(log: (line: string) => void, linesPerSecond = DENIAL_LINES_PER_SECOND) {
    this.lines = new ThrottledLog(log, 1000, linesPerSecond);
  }

  /** One denial: `who` names the connection (`#12 cid D1 did dev1`), `what` the object as the client named it. */
  record(right: Right, who: string, what: string, now = Date.now()): void {
    this.counts[right]++;
    this.lines.write(`access denied: ${right} ${escapeToken(what)} for ${who}`, undefined, now);
  }
}
