// Descriptor headroom for the uWS listeners (issue 16 item 4). uWebSockets.js accepts sockets that JS never sees
// until their HTTP request arrives (closing them itself after about 10 s), and when accept() fails with EMFILE
// usockets neither backs off nor drops the connection: the listen socket stays readable and the loop spins. So
// this watches the process's open descriptors and closes the uWS listen sockets before they run out, and binds
// them again once descriptors are free. Descriptors held in reserve are let go while paused, so node's own
// listeners (CongSocket, the TLS front), Redis and log files have room even after a burst took all uWS could get.
import { closeSync, openSync, readdirSync, statSync } from 'node:fs';
import { ThrottledLog } from '../logging/throttled-log.js';
import { openFileLimit } from '../guard/admission.js';

export interface PausableListener {
  /** For the log, e.g. "WebSocket port 7777". */
  readonly name: string;
  /** Stops accepting (closes the listen socket); accepted sockets stay. */
  pause(): void;
  /** Listens again; false when the port cannot be bound now (tried again at the next check). */
  resume(): boolean;
}

/** Open descriptors of this process. */
export type DescriptorCount = () => number;

const PROC_FD = '/proc/self/fd';
/** How often the count is read when reading it costs a stat (8 µs): a spin at the limit lasts at most this. */
const CHECK_MS = 100;
/** A count that costs more (a directory listing on kernels before 6.2) is read less often: at most 1 % of the time. */
const MAX_CHECK_SHARE = 0.01;
/** Pause lines at most this often; the next one says how many were left out. */
const LOG_PERIOD_MS = 10_000;

/**
 * How to count this process's descriptors, or null where it cannot be told (not Linux). Since Linux 6.2 the
 * size of /proc/self/fd is the count (a stat, no descriptor needed even when none is left); before, the
 * entries are listed, and a listing that fails for want of a descriptor means there are none.
 */
export function descriptorCounter(): { count: DescriptorCount; cheap: boolean } | null {
  try {
    if (statSync(PROC_FD).size > 0) return { count: () => statSync(PROC_FD).size, cheap: true };
    readdirSync(PROC_FD);
  } catch {
    return null;
  }
  const count = (): number => {
    try {
      return readdirSync(PROC_FD).length - 1; // less the descriptor of the listing itself
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EMFILE' || code === 'ENFILE') return Number.MAX_SAFE_INTEGER;
      throw err;
    }
  };
  return { count, cheap: false };
}

/** Descriptors kept spare for node's side by default: 1/16 of the limit, 32 to 256 (1024 → 64; 20 000 → 256). */
export function defaultFdReserve(limit: number | null): number {
  if (limit === null) return 0;
  return Math.min(256, Math.max(32, Math.floor(limit / 16)));
}

export interface DescriptorGuardOptions {
  /** The soft RLIMIT_NOFILE. */
  limit: number;
  /** Spare descriptors held while accepting and let go while paused. */
  reserve: number;
  listeners: readonly PausableListener[];
  log: (line: string) => void;
  /** Called on every pause (the metrics count them). */
  onPause?: () => void;
  /** Tests: a stand-in for the descriptor count, checked only when `check()` is called. */
  count?: DescriptorCount;
}

export class DescriptorGuard {
  /** True from a pause until the listeners were given back. */
  paused = false;
  /** Free descriptors at or below which the listeners are paused. */
  readonly margin: number;
  private readonly count: DescriptorCount;
  private readonly cheap: boolean;
  private readonly spares: number[] = [];
  /** Listeners that are not listening (paused, or a resume that failed). */
  private readonly down = new Set<PausableListener>();
  private timer: NodeJS.Timeout | null = null;
  private pausedAt = 0;
  private pauseLogged = false;
  private readonly pauseLog: ThrottledLog;
  private readonly resumeFailureLog: ThrottledLog;

  constructor(private readonly options: DescriptorGuardOptions) {
    this.margin = Math.max(8, Math.floor(options.reserve / 4));
    this.pauseLog = new ThrottledLog(options.log, LOG_PERIOD_MS);
    this.resumeFailureLog = new ThrottledLog(options.log, LOG_PERIOD_MS);
    const counter = options.count ? { count: options.count, cheap: true } : descriptorCounter();
    this.count = counter?.count ?? (() => 0);
    this.cheap = counter?.cheap ?? true;
    this.holdSpares();
    if (!options.count && counter) this.schedule(CHECK_MS);
  }

  /** Reads the count and pauses or resumes the listeners; the timer calls it, tests may too. */
  check(): void {
    const { limit, reserve } = this.options;
    const used = this.count();
    const free = limit - used;
    if (!this.paused) {
      if (free <= this.margin) this.pause(used);
      else if (this.down.size > 0) this.resumeListeners(used);
    } else if (free >= reserve + 2 * this.margin) {
      // Room for the spares and twice the margin, so taking the spares back does not pause again at once.
      this.paused = false;
      this.holdSpares();
      this.resumeListeners(used);
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.releaseSpares();
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      const start = performance.now();
      this.check();
      const cost = performance.now() - start;
      this.schedule(this.cheap ? CHECK_MS : Math.max(CHECK_MS, cost / MAX_CHECK_SHARE));
    }, ms);
    this.timer.unref();
  }

  private pause(used: number): void {
    const { limit, listeners } = this.options;
    this.paused = true;
    this.pausedAt = Date.now();
    for (const listener of listeners) {
      if (this.down.has(listener)) continue;
      listener.pause();
      this.down.add(listener);
    }
    const spares = this.spares.length;
    this.releaseSpares();
    this.options.onPause?.();
    const names = listeners.map((l) => l.name).join(', ');
    const what =
      listeners.length === 0
        ? 'new connections are refused until some are free again'
        : `stopped accepting on ${names} until some are free again (${spares} spare descriptors released for CongSocket, Redis and files)`;
    let logged = false;
    this.pauseLog.write(
      `descriptors: ${used} of ${limit} open; ${what}`,
      (line) => {
        logged = true;
        this.options.log(line);
      },
    );
    this.pauseLogged = logged;
  }

  private resumeListeners(used: number): void {
    const back: string[] = [];
    for (const listener of [...this.down]) {
      if (listener.resume()) {
        this.down.delete(listener);
        back.push(listener.name);
      } else {
        this.resumeFailureLog.write(`descriptors: cannot listen on ${listener.name} again (port taken?); trying again every ${CHECK_MS} ms`);
      }
    }
    if (this.options.listeners.length === 0 && this.pauseLogged) {
      this.options.log(`descriptors: ${used} of ${this.options.limit} open; below the limit again after ${Date.now() - this.pausedAt} ms`);
      this.pauseLogged = false;
    }
    if (back.length > 0 && this.pauseLogged) {
      this.options.log(`descriptors: ${used} of ${this.options.limit} open; accepting again on ${back.join(', ')} after ${Date.now() - this.pausedAt} ms`);
      if (this.down.size === 0) this.pauseLogged = false;
    }
  }

  private holdSpares(): void {
    while (this.spares.length < this.options.reserve) {
      try {
        this.spares.push(openSync('/dev/null', 'r'));
      } catch {
        return; // fewer spares now; the next resume tries again
      }
    }
  }

  private releaseSpares(): void {
    for (const fd of this.spares.splice(0)) closeSync(fd);
  }
}

/**
 * The guard of these uWS listeners (null when `fdReserve` is 0, or where the open-file limit cannot be read): they
 * pause before descriptors run out, which uWS cannot survive without spinning, and accept again once descriptors
 * are free; node's listeners survive it on their own (libuv closes what it cannot accept), so without a uWS
 * listener the guard only says so in the log.
 */
export function guardListeners(listeners: readonly PausableListener[], fdReserve: number, log: (line: string) => void, onPause: () => void): DescriptorGuard | null {
  const limit = openFileLimit();
  if (fdReserve <= 0 || limit === null) return null;
  // Spares serve node's side only while uWS listeners are paused.
  const reserve = listeners.length === 0 ? 0 : Math.min(fdReserve, Math.floor(limit / 4));
  return new DescriptorGuard({ limit, reserve, listeners, log, onPause });
}
