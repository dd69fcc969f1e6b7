// The primary's ledgers under `io-server --workers`: one connection budget and one login throttle for the whole
// host, whichever worker the kernel (WebSocket, SO_REUSEPORT) or node:cluster (CongSocket) hands a connection to.
// Workers ask over IPC (primary-link.ts) and the answer is given at once, from the same Admission and LoginGuard
// a single process uses. What each worker holds is booked per worker, so a worker that dies gives it all back.
import type { LoginLimits } from '../policies.js';
import { Admission, type CapRefusal, type ConnectionLimits } from '../guard/admission.js';
import { LoginGuard, type LoginFailureReason, type LoginTicket } from '../guard/login-guard.js';
import type { IpcPort } from './ipc.js';

export const LEDGER_TOPIC = 'ledger';

/** A worker's question: a place for a connection from `ip`, or a login attempt from `ip` on `device`. */
export type LedgerAsk = { op: 'take'; ip: string } | { op: 'login'; ip: string; device: string };
/** take: null (granted) or the cap; login: a ticket number or why the attempt is refused. */
export type LedgerAnswer = CapRefusal | null | number | LoginFailureReason;
/** give: a place is free again; end: a login attempt is decided (`accepted` gives its tokens back). */
export type LedgerTell = { op: 'give'; ip: string } | { op: 'end'; ticket: number; accepted: boolean };

export interface HostLimits {
  /** The connection caps for the host (the budgets of sockets still opening stay each worker's own). */
  connections: Pick<ConnectionLimits, 'maxConnections' | 'maxConnectionsPerAddress'>;
  logins: LoginLimits;
}

/**
 * Login attempts one worker may have open at once (being decided by its key store); more are refused as
 * pending_cap. The per-address pending cap applies first; this bounds the ledger itself.
 */
export const OPEN_TICKETS_PER_WORKER = 65_536;

interface WorkerBooks {
  /** Places held, by client address. */
  places: Map<string, number>;
  tickets: Map<number, LoginTicket>;
}

export class HostLedger {
  private readonly admission: Admission;
  private readonly guard: LoginGuard;
  private readonly workers = new Map<number, WorkerBooks>();
  private lastTicket = 0;

  constructor(readonly limits: HostLimits) {
    // Places of connections only: a socket still opening is counted by the worker that accepted it.
    this.admission = new Admission({ ...limits.connections, maxHandshakes: 0, maxHandshakesPerAddress: 0 });
    this.guard = new LoginGuard(limits.logins);
  }

  /** Answers worker `id`'s ledger asks and tells on `port` until it closes. */
  attach(id: number, port: IpcPort): void {
    port.onAsk(LEDGER_TOPIC, (body) => this.answer(id, body as LedgerAsk));
    port.onTell(LEDGER_TOPIC, (body) => this.told(id, body as LedgerTell));
    port.onClose(() => this.workerGone(id));
  }

  answer(worker: number, ask: LedgerAsk): LedgerAnswer {
    // Our own workers send these; a malformed one is refused, never counted.
    if (typeof ask?.ip !== 'string') return ask?.op === 'login' ? 'malformed' : 'global';
    const books = this.books(worker);
    if (ask.op === 'take') {
      const refusal = this.admission.check(ask.ip);
      if (refusal !== null) return refusal;
      this.admission.opened(ask.ip);
      books.places.set(ask.ip, (books.places.get(ask.ip) ?? 0) + 1);
      return null;
    }
    if (books.tickets.size >= OPEN_TICKETS_PER_WORKER) return 'pending_cap';
    const ticket = this.guard.begin(ask.ip, String(ask.device));
    if (typeof ticket === 'string') return ticket;
    const number = ++this.lastTicket;
    books.tickets.set(number, ticket);
    return number;
  }

  told(worker: number, tell: LedgerTell): void {
    const books = this.workers.get(worker);
    if (!books) return;
    if (tell?.op === 'give') {
      // Only what this worker holds: a stray give never frees another worker's place.
      const held = books.places.get(tell.ip);
      if (!held) return;
      if (held === 1) books.places.delete(tell.ip);
      else books.places.set(tell.ip, held - 1);
      this.admission.closed(tell.ip);
    } else if (tell?.op === 'end') {
      const ticket = books.tickets.get(tell.ticket);
      if (!ticket) return;
      books.tickets.delete(tell.ticket);
      ticket.end(tell.accepted === true);
    }
  }

  /** A worker exited: its connections are gone, and its undecided logins count as failed. */
  workerGone(worker: number): void {
    const books = this.workers.get(worker);
    if (!books) return;
    this.workers.delete(worker);
    for (const [ip, held] of books.places) for (let i = 0; i < held; i++) this.admission.closed(ip);
    for (const ticket of books.tickets.values()) ticket.end(false);
  }

  /** Places held over the host (the global cap counts these). */
  get placesHeld(): number {
    let total = 0;
    for (const books of this.workers.values()) for (const held of books.places.values()) total += held;
    return total;
  }

  get openTickets(): number {
    let total = 0;
    for (const books of this.workers.values()) total += books.tickets.size;
    return total;
  }

  private books(worker: number): WorkerBooks {
    let books = this.workers.get(worker);
    if (!books) this.workers.set(worker, (books = { places: new Map(), tickets: new Map() }));
    return books;
  }
}
