// Requests that wait for an answer from the server: CALL by message id (with a u16 id that wraps, Q31),
// and ECHO / IAM / PING answered in arrival order. Every wait has a time limit.
import { NotConnectedError, ReplyTimeoutError } from './errors.js';

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

function startWaiter<T>(what: string, timeoutMs: number, onTimeout: () => void): { promise: Promise<T>; waiter: Waiter<T> } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer = setTimeout(() => {
    onTimeout();
    reject(new ReplyTimeoutError(what, timeoutMs));
  }, timeoutMs);
  return { promise, waiter: { resolve, reject, timer } };
}

/** @internal Pending CALLs keyed by message id. */
export class PendingCalls<T> {
  private readonly waiting = new Map<number, Waiter<T>>();
  private lastMid = 0;

  get size(): number {
    return this.waiting.size;
  }

  /** The next free message id: 1, 2, … 65535, then 1 again, skipping ids still waiting. */
  nextMid(): number {
    for (let tries = 0; tries < 0xffff; tries++) {
      this.lastMid = this.lastMid >= 0xffff ? 1 : this.lastMid + 1;
      if (!this.waiting.has(this.lastMid)) return this.lastMid;
    }
    throw new RangeError('65535 calls are already waiting for an answer');
  }

  wait(mid: number, what: string, timeoutMs: number): Promise<T> {
    const { promise, waiter } = startWaiter<T>(what, timeoutMs, () => this.waiting.delete(mid));
    this.waiting.set(mid, waiter);
    return promise;
  }

  /** Settles the call `mid`; false when nothing waits for it (late or unknown answer). */
  settle(mid: number, outcome: { value: T } | { error: Error }): boolean {
    const waiter = this.waiting.get(mid);
    if (!waiter) return false;
    this.waiting.delete(mid);
    clearTimeout(waiter.timer);
    if ('value' in outcome) waiter.resolve(outcome.value);
    else waiter.reject(outcome.error);
    return true;
  }

  rejectAll(error: Error): void {
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiting.clear();
  }
}

/** @internal Requests answered in order (IAM_RES, PONG) or by a matching value (ECHO). */
export class ReplyQueue<T> {
  private readonly waiting: Array<{ waiter: Waiter<T>; accepts: (value: T) => boolean }> = [];

  wait(what: string, timeoutMs: number, accepts: (value: T) => boolean = () => true): Promise<T> {
    const { promise, waiter } = startWaiter<T>(what, timeoutMs, () => {
      const at = this.waiting.findIndex((entry) => entry.waiter === waiter);
      if (at !== -1) this.waiting.splice(at, 1);
    });
    this.waiting.push({ waiter, accepts });
    return promise;
  }

  /** Hands `value` to the oldest waiter that accepts it; false when none does. */
  deliver(value: T): boolean {
    const at = this.waiting.findIndex((entry) => entry.accepts(value));
    if (at === -1) return false;
    const [entry] = this.waiting.splice(at, 1);
    clearTimeout(entry!.waiter.timer);
    entry!.waiter.resolve(value);
    return true;
  }

  rejectAll(what: string): void {
    for (const { waiter } of this.waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new NotConnectedError(what));
    }
  }
}
