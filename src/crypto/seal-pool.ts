// A small pool of worker threads that seal and open large ENC_488 messages, so that no single encrypted
// message holds the broker's event loop (issue 9 item 5). Messages below `asyncFrom` bytes stay on the fast,
// synchronous path: handing them to a thread would cost more than sealing them.
//
// Bounded: `threads` workers, at most `maxJobs` jobs and `maxBytes` of input waiting or running (beyond that a job
// is refused at once; input shared by several jobs counts once per job, so the real bound is lower).
// Contained: a job that throws is answered with an error; a worker that dies fails only its current job and is
// replaced. If workers keep dying (more than RESPAWN_BUDGET in RESPAWN_WINDOW_MS) the pool stops offloading and
// `offloads()` answers false, so callers fall back to sealing synchronously rather than losing messages.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { OpenJob, SealJob, WorkerJob, WorkerJobWithId, WorkerReply } from './seal-jobs.js';

export type { OpenJob, SealJob } from './seal-jobs.js';

export interface SealPoolOptions {
  /** Worker threads (default: available cores − 1, at least 1, at most 4). */
  threads?: number;
  /** Messages from this many bytes on are sealed/opened by the pool (default 64 KiB ≈ 2 ms of hashing). */
  asyncFrom?: number;
  /** Jobs waiting or running at once; more are refused with SealPoolFullError (default 256). */
  maxJobs?: number;
  /** Input bytes of the jobs waiting or running; more are refused with SealPoolFullError (default 256 MiB). */
  maxBytes?: number;
  /** Called with one line when a worker dies or the pool gives up offloading. */
  log?: (line: string) => void;
}

export const DEFAULT_ASYNC_FROM = 64 * 1024;
export const DEFAULT_MAX_JOBS = 256;
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const RESPAWN_BUDGET = 10;
const RESPAWN_WINDOW_MS = 60_000;

export class SealPoolFullError extends Error {
  constructor(what: string) {
    super(`seal pool full (${what})`);
    this.name = 'SealPoolFullError';
  }
}

interface Pending {
  job: WorkerJobWithId;
  bytes: number;
  resolve: (bytes: Buffer | null) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  running: Pending | null;
}

export interface SealPoolStats {
  completed: number;
  failed: number;
  refused: number;
  respawns: number;
}

export class SealPool {
  readonly threads: number;
  readonly asyncFrom: number;
  readonly maxJobs: number;
  readonly maxBytes: number;
  readonly stats: SealPoolStats = { completed: 0, failed: 0, refused: 0, respawns: 0 };
  readonly #log: (line: string) => void;
  /** Workers are started on the first job: a broker that never sees a large encrypted message has none. */
  readonly #slots: (Slot | null)[];
  readonly #waiting: Pending[] = [];
  #jobs = 0;
  #bytes = 0;
  #nextId = 1;
  #closed = false;
  #gaveUp = false;
  #recentDeaths: number[] = [];
  /**
   * Shared-memory copies of this turn's plaintexts: a message fanned out to several receivers is copied once,
   * and no thread hop copies it again. Forgotten after the turn, so a reused buffer is never mistaken for it.
   */
  #shared: Map<Uint8Array, Uint8Array> | null = null;

  constructor(options: SealPoolOptions = {}) {
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    this.threads = Math.max(1, Math.floor(options.threads ?? Math.min(4, cores - 1)));
    this.asyncFrom = Math.max(0, options.asyncFrom ?? DEFAULT_ASYNC_FROM);
    this.maxJobs = Math.max(1, options.maxJobs ?? DEFAULT_MAX_JOBS);
    this.maxBytes = Math.max(0, options.maxBytes ?? DEFAULT_MAX_BYTES);
    this.#log = options.log ?? (() => {});
    this.#slots = new Array<Slot | null>(this.threads).fill(null);
  }

  /** Should a message of `size` bytes go through the pool? False below the threshold or when the pool gave up. */
  offloads(size: number): boolean {
    return size >= this.asyncFrom && !this.#closed && !this.#gaveUp;
  }

  /** Jobs waiting or running. */
  get pending(): number {
    return this.#jobs;
  }

  /** The sealed message (same bytes as sealSession). The plaintext is copied before this returns. */
  seal(job: SealJob): Promise<Buffer> {
    const refused = this.#refuse(job.secret.length);
    if (refused) return Promise.reject(refused);
    const secret = this.#sharedCopy(job.secret);
    return this.#submit({ op: 'seal', type: job.type, key: job.key, salt12: job.salt12, secret }, secret.length).then((bytes) => {
      if (!bytes) throw new Error('seal worker returned nothing');
      return bytes;
    });
  }

  /** The plaintext of an ENC_488, or null when it does not open (same as openSession). `msg` is copied at once. */
  open(job: OpenJob): Promise<Buffer | null> {
    const refused = this.#refuse(job.msg.length);
    if (refused) return Promise.reject(refused);
    const msg = this.#sharedCopy(job.msg);
    return this.#submit({ op: 'open', type: job.type, key: job.key, localNonce: job.localNonce, msg }, msg.length);
  }

  /** Stops every worker; jobs not finished are rejected. */
  async close(): Promise<void> {
    this.#closed = true;
    const stopped = new Error('seal pool closed');
    for (const pending of this.#waiting.splice(0)) this.#fail(pending, stopped);
    const exits: Promise<number>[] = [];
    for (let i = 0; i < this.#slots.length; i++) {
      const slot = this.#slots[i];
      this.#slots[i] = null;
      if (!slot) continue;
      if (slot.running) this.#fail(slot.running, stopped);
      slot.running = null;
      exits.push(slot.worker.terminate());
    }
    await Promise.allSettled(exits);
  }

  /** For tests: ends worker `index` abruptly, as a crash would. */
  async killWorkerForTest(index: number): Promise<void> {
    await this.#slots[index]?.worker.terminate();
  }

  /** Why a job of `bytes` cannot be taken now, or null. */
  #refuse(bytes: number): Error | null {
    if (this.#closed) return new Error('seal pool closed');
    let full = '';
    if (this.#jobs >= this.maxJobs) full = `${this.maxJobs} jobs`;
    else if (this.#jobs > 0 && this.#bytes + bytes > this.maxBytes) full = `${this.#bytes} of ${this.maxBytes} bytes`;
    if (!full) return null;
    this.stats.refused++;
    return new SealPoolFullError(full);
  }

  #submit(job: WorkerJob, bytes: number): Promise<Buffer | null> {
    this.#jobs++;
    this.#bytes += bytes;
    return new Promise<Buffer | null>((resolve, reject) => {
      this.#waiting.push({ job: { ...job, id: this.#nextId++ }, bytes, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    for (let i = 0; i < this.#slots.length && this.#waiting.length > 0; i++) {
      let slot = this.#slots[i];
      if (slot?.running) continue;
      slot ??= this.#spawn(i);
      const pending = this.#waiting.shift()!;
      slot.running = pending;
      slot.worker.postMessage(pending.job);
    }
  }

  #spawn(index: number): Slot {
    const worker = new Worker(new URL('./seal-worker.js', import.meta.url));
    // The pool must never keep a process alive on its own.
    worker.unref();
    const slot: Slot = { worker, running: null };
    this.#slots[index] = slot;
    worker.on('message', (reply: WorkerReply) => this.#answer(slot, reply));
    worker.on('error', (err) => this.#died(index, slot, `error: ${String(err)}`));
    worker.on('exit', (code) => this.#died(index, slot, `exit code ${code}`));
    return slot;
  }

  #answer(slot: Slot, reply: WorkerReply): void {
    const pending = slot.running;
    if (!pending || pending.job.id !== reply.id) return;
    slot.running = null;
    this.#jobs--;
    this.#bytes -= pending.bytes;
    if (reply.error !== undefined) {
      this.stats.failed++;
      pending.reject(new Error(`seal worker: ${reply.error}`));
    } else {
      this.stats.completed++;
      const bytes = reply.bytes;
      pending.resolve(bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null);
    }
    this.#dispatch();
  }

  /** A worker is gone: fail its job, replace it (lazily, on the next job), unless deaths come too fast. */
  #died(index: number, slot: Slot, why: string): void {
    if (this.#slots[index] !== slot) return; // already handled (error is followed by exit)
    this.#slots[index] = null;
    if (slot.running) this.#fail(slot.running, new Error(`seal worker died (${why})`));
    slot.running = null;
    if (this.#closed) return;
    this.stats.respawns++;
    const now = Date.now();
    this.#recentDeaths = this.#recentDeaths.filter((t) => now - t < RESPAWN_WINDOW_MS);
    this.#recentDeaths.push(now);
    this.#log(`seal worker ${index} died (${why}); replacing it`);
    if (this.#recentDeaths.length > RESPAWN_BUDGET) {
      this.#gaveUp = true;
      this.#log(`seal workers died ${this.#recentDeaths.length} times in a minute: sealing on the main thread from now on`);
      const gone = new Error('seal pool gave up');
      for (const pending of this.#waiting.splice(0)) this.#fail(pending, gone);
      return;
    }
    this.#dispatch();
  }

  #fail(pending: Pending, err: Error): void {
    this.#jobs--;
    this.#bytes -= pending.bytes;
    this.stats.failed++;
    pending.reject(err);
  }

  #sharedCopy(bytes: Uint8Array): Uint8Array {
    if (!this.#shared) {
      this.#shared = new Map();
      setImmediate(() => {
        this.#shared = null;
      });
    }
    let copy = this.#shared.get(bytes);
    if (!copy) {
      copy = new Uint8Array(new SharedArrayBuffer(bytes.length));
      copy.set(bytes);
      this.#shared.set(bytes, copy);
    }
    return copy;
  }
}
