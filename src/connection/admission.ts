// Connection floods (issue 9 item 9): a global cap kept below the process's file-descriptor limit and a
// per-address cap. A transport asks before it takes a connection on (WebSocket upgrade, TCP accept) and
// refuses at once when over either cap, so a flood costs an accept and a close, never a spinning listener.
import { readFileSync } from 'node:fs';

export interface ConnectionLimits {
  /** Most open connections, both transports together; 0 = no cap. */
  maxConnections: number;
  /** Most open connections from one client address; 0 = no cap. */
  maxConnectionsPerAddress: number;
}

export type RefusalReason = 'global' | 'address';
/** Why the host's ledger refused a place (`--workers`): a cap, or the primary did not answer in time. */
export type HostRefusal = RefusalReason | 'primary_unavailable';

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

/** The default global cap: the soft descriptor limit less a reserve (20 000 → 18 000; 1024 → 768). */
export function defaultMaxConnections(limit = openFileLimit()): number {
  if (limit === null) return FALLBACK_MAX_CONNECTIONS;
  return Math.max(16, limit - reserveFor(limit));
}

export class Admission {
  private readonly perAddress = new Map<string, number>();
  private open = 0;

  constructor(private readonly limits: ConnectionLimits) {}

  /** Why a new connection from `ip` would be refused now; null when it may come in. */
  check(ip: string): RefusalReason | null {
    const { maxConnections, maxConnectionsPerAddress } = this.limits;
    if (maxConnections > 0 && this.open >= maxConnections) return 'global';
    if (maxConnectionsPerAddress > 0 && (this.perAddress.get(ip) ?? 0) >= maxConnectionsPerAddress) return 'address';
    return null;
  }

  /** A connection from `ip` was taken on. */
  opened(ip: string): void {
    this.open++;
    this.perAddress.set(ip, (this.perAddress.get(ip) ?? 0) + 1);
  }

  /** A connection from `ip` is gone. */
  closed(ip: string): void {
    this.open--;
    const left = (this.perAddress.get(ip) ?? 1) - 1;
    if (left <= 0) this.perAddress.delete(ip);
    else this.perAddress.set(ip, left);
  }
}
