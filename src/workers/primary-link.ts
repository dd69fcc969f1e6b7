// A worker's link to its primary under `io-server --workers`: the host-wide connection places and login throttle
// (host-ledger.ts keeps them), and the supervisor's figures for this worker's /metrics. Every ask is bounded in
// flight and in time; when the primary does not answer in time the worker refuses (fails closed), because a
// budget that opens whenever its keeper is slow is no budget against a flood that makes it slow.
import type { HostPlaces, HostRefusal } from '../guard/admission.js';
import { throttleKey, type LoginFailureReason, type LoginThrottle, type LoginTicket } from '../guard/login-guard.js';
import { Asker, IpcPort, UNANSWERED, primaryEndpoint, type AskLimits, type IpcEndpoint } from './ipc.js';
import { LEDGER_TOPIC, type LedgerAnswer, type LedgerAsk, type LedgerTell } from './host-ledger.js';
import { SUPERVISOR_TOPIC, type SupervisorTell, type WorkersSample } from './workers-sample.js';

/**
 * 2 s for an answer from a process on the same host that does nothing but keep ledgers; at most 4096 asks in
 * flight per worker (each stands for a socket or a login waiting, both bounded elsewhere too).
 */
export const DEFAULT_ASK_LIMITS: AskLimits = { timeoutMs: 2000, inFlight: 4096 };

/** Addresses whose last throttled refusal time is remembered for the one-line-a-second log rule. */
const LOG_MEMORY = 4096;
const THROTTLE_LOG_MS = 1000;

/** What a server uses of its primary under --workers (ServerOptions.primary). */
export interface WorkerPrimary extends HostPlaces, LoginThrottle {
  /** The supervisor's latest figures, or null before the first. */
  sample(): WorkersSample | null;
}

export class PrimaryLink implements WorkerPrimary {
  private readonly port: IpcPort;
  private readonly asker: Asker<LedgerAsk, LedgerAnswer>;
  private figures: WorkersSample | null = null;
  /** Throttled refusals are logged once a second per address by each worker (a worker cannot see the others' lines). */
  private readonly loggedAt = new Map<string, number>();

  constructor(endpoint: IpcEndpoint = primaryEndpoint(), limits: AskLimits = DEFAULT_ASK_LIMITS) {
    this.port = new IpcPort(endpoint);
    this.asker = new Asker<LedgerAsk, LedgerAnswer>(this.port, LEDGER_TOPIC, limits, (ask, answer) => this.lateAnswer(ask, answer));
    this.port.onTell(SUPERVISOR_TOPIC, (body) => {
      const tell = body as SupervisorTell;
      if (tell?.figures) this.figures = tell.figures;
    });
  }

  /** The IPC port, for other parts that talk to the primary over the same pipe. */
  get ipc(): IpcPort {
    return this.port;
  }

  /** Asks in flight to the primary (bounded by the ask limits). */
  get asksInFlight(): number {
    return this.asker.inFlight;
  }

  async take(ip: string): Promise<HostRefusal | null> {
    const answer = await this.asker.ask({ op: 'take', ip });
    if (answer === UNANSWERED) return 'primary_unavailable';
    return answer === null ? null : (answer as HostRefusal);
  }

  give(ip: string): void {
    this.tell({ op: 'give', ip });
  }

  async begin(ip: string, deviceId: string): Promise<LoginTicket | LoginFailureReason> {
    const answer = await this.asker.ask({ op: 'login', ip, device: deviceId });
    if (answer === UNANSWERED) return 'primary_unavailable';
    if (typeof answer !== 'number') return answer as LoginFailureReason;
    let open = true;
    return {
      end: (accepted) => {
        if (!open) return;
        open = false;
        this.tell({ op: 'end', ticket: answer, accepted });
      },
    };
  }

  shouldLog(ip: string, now = Date.now()): boolean {
    const key = throttleKey(ip);
    const last = this.loggedAt.get(key);
    if (last !== undefined && now - last < THROTTLE_LOG_MS) return false;
    this.loggedAt.delete(key);
    if (this.loggedAt.size >= LOG_MEMORY) this.loggedAt.delete(this.loggedAt.keys().next().value!);
    this.loggedAt.set(key, now);
    return true;
  }

  /** Tells the supervisor this worker serves (its listeners are bound). */
  ready(): void {
    this.port.tell(SUPERVISOR_TOPIC, { ready: true } satisfies SupervisorTell);
  }

  /** The supervisor's latest figures (workers up, restarts, back-off), or null before the first. */
  sample(): WorkersSample | null {
    return this.figures;
  }

  close(): void {
    this.asker.close();
    this.port.close();
  }

  private tell(tell: LedgerTell): void {
    this.port.tell(LEDGER_TOPIC, tell);
  }

  /** The primary granted something after this worker gave up waiting: give it straight back. */
  private lateAnswer(ask: LedgerAsk, answer: LedgerAnswer): void {
    if (ask.op === 'take' && answer === null) this.give(ask.ip);
    // No key was checked: the attempt's tokens go back.
    else if (ask.op === 'login' && typeof answer === 'number') this.tell({ op: 'end', ticket: answer, accepted: true });
  }
}
