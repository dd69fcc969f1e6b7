// The sessions of this process: their ids (ssid, in accept order), the live set, the keepalive sweep (§1.3) and
// the walks observers ask for, a page at a time.
import type { Stats } from '../metrics/stats.js';
import { firstOf, pageBySsid, type Page } from '../http/paging.js';

/** What the registry needs of a session. */
export interface Registered {
  readonly ssid: number;
  /** Set by any incoming traffic; cleared by each sweep. */
  alive: boolean;
  close(reason: string): void;
  probe(): void;
}

export class Registry<S extends Registered> {
  readonly sessions = new Set<S>();
  private lastSsid = 0;

  get size(): number {
    return this.sessions.size;
  }

  /** The id of the latest session (a gauge: sessions accepted since start). */
  get latestSsid(): number {
    return this.lastSsid;
  }

  nextSsid(): number {
    return ++this.lastSsid;
  }

  add(session: S): void {
    this.sessions.add(session);
  }

  /** False when it was not registered (gone already). */
  delete(session: S): boolean {
    return this.sessions.delete(session);
  }

  /** Keepalive (§1.3): close what stayed silent for a whole period, then probe everyone. */
  sweep(stats: Stats): void {
    for (const session of this.sessions) {
      if (!session.alive) {
        stats.timeouts++;
        session.close('keepalive timeout');
        continue;
      }
      session.alive = false;
      session.probe();
    }
  }

  /** Up to `limit` sessions with an ssid above `after` (0 = from the first), in ssid order. */
  page<T>(after: number, limit: number, describe: (session: S) => T): Page<T, number> {
    return pageBySsid(this.sessions, after, limit, describe);
  }

  /** The first `limit` sessions in no particular order, walking nothing else (live views). */
  first<T>(limit: number, describe: (session: S) => T): T[] {
    return firstOf(this.sessions, limit, describe);
  }
}
