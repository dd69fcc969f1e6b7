// Connection floods (issue 9 item 9, issue 16 item 4): a global cap kept below the process's file-descriptor
// limit and a per-address cap, and budgets for sockets still opening (TLS handshake, first message, upgrade
// request), so one address cannot hold the sockets others need. A transport asks before it takes a socket on
// (TCP accept where it sees one, else the WebSocket upgrade) and refuses at once when over a cap, so a flood
// costs an accept and a close, never a spinning listener.
import { readFileSync } from 'node:fs';
import { OpeningBudget, openingKey, type Opening } from './opening-budget.js';

export interface ConnectionLimits {
  /** Most open connections, both transports together; 0 = no cap. */
  maxConnections: number;
  /** Most open connections from one client address; 0 = no cap. */
  maxConnectionsPerAddress: number;
  /** Most sockets still opening (TLS handshake, first CongSocket message, upgrade request via the TLS front); 0 = no cap. */
  maxHandshakes: number;
  /** Most such sockets from one client address; 0 = no cap. */
  maxHandshakesPerAddress: number;
}

/** Over the global or the per-address connection cap. */
export type CapRefusal = 'global' | 'address';
/** Why a socket is refused at accept: a connection cap, or a budget of sockets still opening. */
export type RefusalReason = CapRefusal | 'handshakes' | 'handshakes_address';
/** Why the host's ledger refused a place (`--workers`): a connection cap, or the primary did not answer in time. */
export type HostRefusal = CapRefusal | 'primary_unavailable';

/**
 * The connection places of the whole host under `io-server --workers`, kept by the primary (src/workers/), so the
 * caps hold for the host and not per worker. A worker asks after its own caps (Admission) let a connection pass.
 */
export interface HostPlaces {
  /** Takes a place for a connection from `ip` (the client address the caps count), or says why not; never rejects. */
  take(ip: string): Promise<HostRefusal | null>;
  /** Gives back a place `take` granted: its connection ended, or its socket went away before it became one. */
  give(ip: string): void;
}

/** A socket's place in the caps from its accept on: `opened()` when its opening is done, `release()` when it is gone. */
export interface OpeningSlot {
  opened(): void;
  release(): void;
}

/** Descriptors left for files, logs, Redis, HTTP requests and TLS fronts: 10 % of the limit, at least 256. */
function reserveFor(limit: number): number {
  return Math.max(256, Math.floor(limit / 10));
}

/** The soft RLIMIT_NOFILE of this process (Linux /proc), or null when it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!match || match[1] === 'unlimited') return null;
    return Number(match[1]);
  } catch {
    return null;
  }
}

/** Used when the descriptor limit cannot be read (not Linux): safe under the common 8192-descriptor limits. */
export const FALLBACK_MAX_CONNECTIONS = 4096;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 1024;
export const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS = 64;

/** The default global cap: the soft descriptor limit less a reserve (20 000 → 18 000; 1024 → 768). */
export function defaultMaxConnections(limit = openFileLimit()): number {
  if (limit === null) return FALLBACK_MAX_CONNECTIONS;
  return Math.max(16, limit - reserveFor(limit));
}

/** The default budget of sockets still opening: a quarter of the default global cap (1024 → 192; 20 000 → 4500). */
export function defaultMaxHandshakes(limit = openFileLimit()): number {
  return Math.max(64, Math.floor(defaultMaxConnections(limit) / 4));
}

function adjust(counts: Map<string, number>, ip: string, delta: number): void {
  const next = (counts.get(ip) ?? 0) + delta;
  if (next <= 0) counts.delete(ip);
  else counts.set(ip, next);
}

export class Admission {
  private readonly perAddress = new Map<string, number>();
  private open = 0;
  /** Sockets still opening: a budget per address and in all, shared fairly when full (opening-budget.ts). */
  private readonly openingBudget: OpeningBudget;
  /** Told of each socket evicted from its opening place for a newcomer (the door counts it as refused). */
  onEvicted: ((ip: string) => void) | null = null;

  constructor(private readonly limits: ConnectionLimits) {
    this.openingBudget = new OpeningBudget(limits.maxHandshakes, limits.maxHandshakesPerAddress);
  }

  /** Sockets still opening (a gauge for the metrics). */
  get openingCount(): number {
    return this.openingBudget.size;
  }

  /** Why a new connection from `ip` would be refused now; null when it may come in. */
  check(ip: string): CapRefusal | null {
    const { maxConnections, maxConnectionsPerAddress } = this.limits;
    if (maxConnections > 0 && this.open >= maxConnections) return 'global';
    if (maxConnectionsPerAddress > 0 && (this.perAddress.get(ip) ?? 0) >= maxConnectionsPerAddress) return 'address';
    return null;
  }

  /** Why a socket just accepted from `ip` would be refused now: the connection caps, then the opening budgets. */
  checkSocket(ip: string): RefusalReason | null {
    const refusal = this.check(ip);
    if (refusal !== null) return refusal;
    return this.openingBudget.check(ip);
  }

  /** A connection from `ip` was taken on. */
  opened(ip: string): void {
    this.open++;
    adjust(this.perAddress, ip, 1);
  }

  /** A connection from `ip` is gone. */
  closed(ip: string): void {
    this.open--;
    adjust(this.perAddress, ip, -1);
  }

  /**
   * A socket from `ip` was accepted (after checkSocket): it counts as open, and as opening until `opened()`.
   * `socket` is destroyed should a newcomer take its opening place (the budget in all is full and `ip` holds the most).
   */
  enter(ip: string, socket: Evictable): OpeningSlot {
    this.opened(ip);
    const slot = new Slot(this, ip, socket);
    this.openingBudget.enter(slot);
    return slot;
  }

  /** A socket finished its opening, or went away during it (Slot). */
  leftOpening(slot: Slot): void {
    this.openingBudget.leave(slot);
  }

  evicted(slot: Slot): void {
    this.onEvicted?.(slot.ip);
  }
}

/** What an opening place can end: the socket itself (net.Socket). */
export interface Evictable {
  destroy(): void;
}

const OPENING = 0;
const OPEN = 1;
const GONE = 2;

/** One accepted socket's place: a small object and no closures, since every accepted socket holds one. */
class Slot implements OpeningSlot, Opening {
  private stage = OPENING;
  readonly key: string;

  constructor(
    private readonly admission: Admission,
    readonly ip: string,
    private readonly socket: Evictable,
  ) {
    this.key = openingKey(ip);
  }

  opened(): void {
    if (this.stage !== OPENING) return;
    this.stage = OPEN;
    this.admission.leftOpening(this);
  }

  release(): void {
    if (this.stage === GONE) return;
    if (this.stage === OPENING) this.admission.leftOpening(this);
    this.stage = GONE;
    this.admission.closed(this.ip);
  }

  /** A newcomer took this place (the budget already let it go): the socket is refused late, and closes. */
  evictOpening(): void {
    if (this.stage !== OPENING) return;
    this.stage = OPEN;
    this.admission.evicted(this);
    this.socket.destroy();
  }
}
