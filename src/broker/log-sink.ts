// Where the broker's account of sessions goes: the operational log, and with `-f` the connection, auth and
// attack logs (logging/file-logger.ts). Login refusals from a throttled flood are logged within a budget, so an
// attacker cannot turn the log into the attack.
import type { Clock } from '../clock.js';
import { FileLogger } from '../logging/file-logger.js';
import { ThrottledLog } from '../logging/throttled-log.js';
import type { LoginFailureReason, LoginThrottle } from '../guard/login-guard.js';

/**
 * Lines a second about throttled logins from all addresses together (each address writes at most one a second):
 * a flood from many addresses cannot multiply them. The rest are counted (iosig_login_failures_total).
 */
export const THROTTLED_LOGIN_LINES_PER_SECOND = 10;

/** A session as its log lines name it. */
export interface Logged {
  readonly ssid: number;
  readonly ip: string;
  readonly transport: string;
  readonly cid: string;
  readonly did: string;
  readonly admin: boolean;
  readonly level: number;
  readonly closeReason: string;
}

export class LogSink {
  private files: FileLogger | null = null;
  /** Topics of the warnings already written (warnOnce). */
  private readonly warned = new Set<string>();
  /** Lines about throttled logins, within THROTTLED_LOGIN_LINES_PER_SECOND. */
  private readonly throttledLogins: ThrottledLog;

  constructor(
    readonly log: (line: string) => void,
    private readonly throttle: LoginThrottle,
    private readonly clock: Clock,
  ) {
    this.throttledLogins = new ThrottledLog(log, 1000, THROTTLED_LOGIN_LINES_PER_SECOND);
  }

  /** `-f`: the connection, auth and attack logs in `directory`. */
  openFiles(directory: string): void {
    this.files = new FileLogger({ directory });
  }

  warnOnce(topic: string, line: string): void {
    if (this.warned.has(topic)) return;
    this.warned.add(topic);
    this.log(line);
  }

  opened(session: Logged): void {
    this.files?.connection('open', { ssid: session.ssid, ip: session.ip, transport: session.transport });
  }

  closed(session: Logged): void {
    this.files?.connection('close', {
      ssid: session.ssid,
      ip: session.ip,
      transport: session.transport,
      cid: session.cid,
      reason: session.closeReason || 'peer closed',
    });
  }

  /** One login outcome (never the key); a throttled flood within its budget. */
  login(session: Logged, ok: boolean, reason: string, code: LoginFailureReason | null): void {
    const who = `#${session.ssid} ${session.transport} ${session.ip}`;
    const write = (line: string): void => {
      this.log(line);
      this.files?.auth(ok, {
        ssid: session.ssid,
        ip: session.ip,
        transport: session.transport,
        cid: session.cid,
        did: session.did,
        admin: session.admin,
        reason: ok ? undefined : reason,
      });
    };
    if (ok) return write(`${who} login ok: cid ${session.cid} did ${session.did} level ${session.level}`);
    if (code !== null && (code.startsWith('throttled') || code === 'pending_cap')) {
      // A throttled flood would otherwise write a line per attempt: one a second per address, and a budget a
      // second for all addresses together, so that many addresses cannot multiply them either.
      if (!this.throttle.shouldLog(session.ip)) return;
      reason += ' (further throttled attempts from this address are counted, not logged, for 1 s)';
      return this.throttledLogins.write(`${who} login refused: ${reason}`, write, this.clock.now());
    }
    write(`${who} login refused: ${reason}`);
  }

  attack(session: Logged, reason: string, bytes: Uint8Array): void {
    this.files?.attack({ ssid: session.ssid, ip: session.ip, transport: session.transport, bytes, reason });
  }

  async close(): Promise<void> {
    await this.files?.close();
    this.files = null;
  }
}
