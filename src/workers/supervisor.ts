// The primary of `io-server --workers`: forks the workers, keeps the host's ledgers for them (host-ledger.ts), relays
// their bus when they run without Redis (bus-relay.ts), and starts a dead worker again after a back-off
// (restart-backoff.ts), for as long as it should serve. It stops
// (exit 0) only when asked to (SIGTERM, SIGINT); it exits non-zero only when the very first workers cannot start
// serving at all (a port in use, a missing file), which no restart would cure.
import cluster, { type Worker } from 'node:cluster';
import { IpcPort, workerEndpoint } from './ipc.js';
import { HostLedger, type HostLimits } from './host-ledger.js';
import { BusRelay } from './bus-relay.js';
import { RestartBackoff, type BackoffOptions } from './restart-backoff.js';
import { SUPERVISOR_TOPIC, type SupervisorTell, type WorkersSample } from './workers-sample.js';

export interface SupervisorOptions {
  count: number;
  /** Every worker's command line (without --node-id, which each gets as <baseNodeId>-w<slot>). */
  args: string[];
  baseNodeId: string;
  log: (line: string) => void;
  limits: HostLimits;
  backoff: BackoffOptions;
}

/** Exit codes of an io-server that could not start serving: 1 (no port, port in use, bad file), 2 (command line). */
const START_FAILURES: ReadonlySet<number> = new Set([1, 2]);
/** How long a stop waits for a worker to exit after SIGTERM before it is killed (workers force-exit after 1.8 s). */
const STOP_GRACE_MS = 5000;

interface Slot {
  readonly index: number;
  readonly backoff: RestartBackoff;
  worker: Worker | null;
  port: IpcPort | null;
  startedAt: number;
  serving: boolean;
  /** A start is due after a back-off of `delayMs`. */
  restart: NodeJS.Timeout | null;
  delayMs: number;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

export class Supervisor {
  readonly ledger: HostLedger;
  /** The workers' bus when they run without Redis (unused, and costless, when they use Redis). */
  readonly relay = new BusRelay();
  private readonly slots: Slot[];
  private restarts = 0;
  /** Some worker has served since the start: start failures are retried from then on. */
  private served = false;
  private stopping: Promise<void> | null = null;
  private finish: (code: number) => void = () => undefined;
  /** Resolves with the primary's exit code. */
  readonly done: Promise<number>;

  constructor(private readonly options: SupervisorOptions) {
    this.ledger = new HostLedger(options.limits);
    this.slots = Array.from({ length: options.count }, (_, index) => ({
      index,
      backoff: new RestartBackoff(options.backoff),
      worker: null,
      port: null,
      startedAt: 0,
      serving: false,
      restart: null,
      delayMs: 0,
    }));
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  start(): Promise<number> {
    for (const slot of this.slots) this.fork(slot);
    return this.done;
  }

  /** Workers serving now. */
  get up(): number {
    return this.slots.filter((slot) => slot.serving).length;
  }

  /** Stops every worker (SIGTERM, then SIGKILL after a grace period) and resolves `done` with `code`. */
  stop(code = 0): Promise<void> {
    this.stopping ??= this.stopAll(code);
    return this.stopping;
  }

  /** SIGHUP to every live worker (each re-reads its key file); the primary itself keeps running. */
  reload(): void {
    const live = this.slots.filter((slot) => slot.worker !== null);
    for (const slot of live) slot.worker!.process.kill('SIGHUP');
    this.options.log(`io-server: SIGHUP passed to ${live.length} worker${live.length === 1 ? '' : 's'}`);
  }

  figures(slot: number): WorkersSample {
    let backingOff = 0;
    let backoffMs = 0;
    for (const s of this.slots) {
      if (s.restart === null) continue;
      backingOff++;
      backoffMs = Math.max(backoffMs, s.delayMs);
    }
    return { slot, wanted: this.slots.length, up: this.up, restarts: this.restarts, backingOff, backoffMs };
  }

  private fork(slot: Slot): void {
    slot.restart = null;
    const { args, baseNodeId, log } = this.options;
    cluster.setupPrimary({ args: [...args, '--node-id', `${baseNodeId}-w${slot.index}`], serialization: 'advanced' });
    let worker: Worker;
    try {
      worker = cluster.fork({ IOSIG_WORKER: String(slot.index) });
    } catch (err) {
      log(`io-server: worker ${slot.index} could not be started: ${err instanceof Error ? err.message : String(err)}`);
      slot.startedAt = Date.now();
      return this.died(slot, 'no process');
    }
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.serving = false;
    const port = new IpcPort(workerEndpoint(worker));
    slot.port = port;
    this.ledger.attach(worker.id, port);
    this.relay.attach(port);
    port.onTell(SUPERVISOR_TOPIC, (body) => {
      if ((body as SupervisorTell | undefined)?.ready) this.serving(slot, worker);
    });
    worker.on('error', () => undefined);
    worker.once('exit', (code, signal) => this.exited(slot, worker, code, signal));
    log(`io-server: worker ${slot.index} started (pid ${worker.process.pid})`);
  }

  private serving(slot: Slot, worker: Worker): void {
    if (slot.worker !== worker || slot.serving) return;
    slot.serving = true;
    this.served = true;
    this.options.log(`io-server: worker ${slot.index} (pid ${worker.process.pid}) serving; ${this.up} of ${this.slots.length} workers up`);
    this.broadcast();
  }

  private exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    const wasServing = slot.serving;
    slot.worker = null;
    slot.port = null;
    slot.serving = false;
    if (this.stopping) return;
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    if (!this.served && !wasServing && code !== null && START_FAILURES.has(code)) {
      this.options.log(`io-server: worker ${slot.index} could not start serving (${how}); stopping: no worker would serve with these options`);
      void this.stop(code);
      return;
    }
    this.died(slot, `pid ${worker.process.pid}, ${how}`);
  }

  /** A slot lost its worker: its next start waits out the slot's back-off; the other workers keep serving. */
  private died(slot: Slot, what: string): void {
    const { log, backoff } = this.options;
    const lived = Date.now() - slot.startedAt;
    const delay = slot.backoff.died(lived);
    this.restarts++;
    slot.delayMs = delay;
    slot.restart = setTimeout(() => this.fork(slot), delay);
    const streak = slot.backoff.streak > 1 ? `; death ${slot.backoff.streak} in a row: backing off (doubling, at most ${seconds(backoff.maxMs)})` : '';
    log(
      `io-server: worker ${slot.index} died (${what}) after ${seconds(lived)}; ${this.up} of ${this.slots.length} workers up; ` +
        `restarting it in ${seconds(delay)}${streak}`,
    );
    if (this.up === 0) {
      const next = Math.min(...this.slots.filter((s) => s.restart !== null).map((s) => s.delayMs));
      log(`io-server: no worker is serving: connections are refused until one is back (next start within ${seconds(next)})`);
    }
    this.broadcast();
  }

  /** Every serving worker gets the latest figures for its /metrics. */
  private broadcast(): void {
    for (const slot of this.slots) {
      if (slot.port?.isOpen) slot.port.tell(SUPERVISOR_TOPIC, { figures: this.figures(slot.index) } satisfies SupervisorTell);
    }
  }

  private async stopAll(code: number): Promise<void> {
    for (const slot of this.slots) {
      if (slot.restart) clearTimeout(slot.restart);
      slot.restart = null;
    }
    const live = this.slots.map((slot) => slot.worker).filter((worker): worker is Worker => worker !== null);
    await Promise.all(
      live.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.isDead()) return resolve();
            const kill = setTimeout(() => worker.process.kill('SIGKILL'), STOP_GRACE_MS);
            worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            worker.process.kill('SIGTERM');
          }),
      ),
    );
    this.finish(code);
  }
}
