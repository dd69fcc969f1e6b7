// The pipe between the primary of `io-server --workers` and each worker: node:cluster's IPC channel with the
// 'advanced' serialization (structured clone: binary payloads travel as they are). Every message names its topic,
// so several parts share the one pipe: the host ledger (connection caps, login throttle), the supervisor's figures,
// and a bus between the workers later. An ask gets exactly one answer; a tell gets none.
import type { Worker } from 'node:cluster';

/** One message on the pipe: an ask, its answer, or a tell, for one topic. */
export interface IpcMessage {
  /** The topic: which part of the broker the message is for. */
  readonly iosig: string;
  readonly kind: 'ask' | 'answer' | 'tell';
  /** Pairs an answer with its ask (0 on a tell). */
  readonly id: number;
  readonly body: unknown;
}

/** One end of the pipe. */
export interface IpcEndpoint {
  /**
   * Sends one message; false when the other end is gone (the message is dropped). `written` runs once the message
   * has left this process (or could not be written), so a sender can bound what it has queued.
   */
  send(message: IpcMessage, written?: () => void): boolean;
  /** Every iosig message from the other end, in the order it was sent. */
  onMessage(listener: (message: IpcMessage) => void): void;
  /** The other end went away (exit, disconnect). */
  onClose(listener: () => void): void;
}

function isIpcMessage(value: unknown): value is IpcMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Partial<IpcMessage>;
  return typeof m.iosig === 'string' && typeof m.id === 'number' && (m.kind === 'ask' || m.kind === 'answer' || m.kind === 'tell');
}

const ignoreError = (): void => undefined;

/** An end over a node IPC channel: sends only while it is connected, and never throws at the caller. */
function channelEnd(emitter: NodeJS.EventEmitter, connected: () => boolean, send: (message: IpcMessage, done: () => void) => void, closeEvent: string): IpcEndpoint {
  return {
    send(message, written) {
      if (!connected()) return false;
      try {
        send(message, written ? () => written() : ignoreError);
        return true;
      } catch {
        return false;
      }
    },
    onMessage(listener) {
      emitter.on('message', (value: unknown) => {
        if (isIpcMessage(value)) listener(value);
      });
    },
    onClose(listener) {
      emitter.once(closeEvent, listener);
    },
  };
}

/** A worker's end: the pipe to its primary (process.send). */
export function primaryEndpoint(proc: NodeJS.Process = process): IpcEndpoint {
  return channelEnd(proc, () => proc.send !== undefined && proc.connected, (m, done) => proc.send!(m, undefined, undefined, done), 'disconnect');
}

/** The primary's end of the pipe to one worker; closed when the worker exits (its connections are gone then). */
export function workerEndpoint(worker: Worker): IpcEndpoint {
  return channelEnd(worker, () => worker.isConnected(), (m, done) => worker.send(m, undefined, done), 'exit');
}

/** Two ends joined in memory (tests): delivered on a later turn, like the real pipe; close() is a process dying. */
export interface MemoryPipe {
  readonly primary: IpcEndpoint;
  readonly worker: IpcEndpoint;
  close(): void;
}

/** Two ends of a pipe joined in memory (tests). */
export function memoryPipe(): MemoryPipe {
  let open = true;
  const sides = [0, 1].map(() => ({ listeners: [] as Array<(m: IpcMessage) => void>, closers: [] as Array<() => void> }));
  const end = (from: number): IpcEndpoint => ({
    send(message, written) {
      if (!open) return false;
      const copy = structuredClone(message);
      setImmediate(() => {
        if (open) for (const listener of sides[1 - from]!.listeners) listener(copy);
        written?.();
      });
      return true;
    },
    onMessage: (listener) => void sides[from]!.listeners.push(listener),
    onClose: (listener) => void sides[from]!.closers.push(listener),
  });
  return {
    primary: end(0),
    worker: end(1),
    close() {
      if (!open) return;
      open = false;
      for (const side of sides) for (const close of side.closers.splice(0)) close();
    },
  };
}

/** Routes one endpoint's messages by topic: answers for asks, handlers for tells and asks. */
export class IpcPort {
  private readonly tellHandlers = new Map<string, (body: unknown) => void>();
  private readonly askHandlers = new Map<string, (body: unknown) => unknown>();
  private readonly answerHandlers = new Map<string, (id: number, body: unknown) => void>();
  private readonly closeHandlers: Array<() => void> = [];
  private open = true;

  constructor(private readonly endpoint: IpcEndpoint) {
    endpoint.onMessage((message) => this.receive(message));
    endpoint.onClose(() => this.close());
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** `written`: see IpcEndpoint.send (not called when this returns false). */
  tell(topic: string, body: unknown, written?: () => void): boolean {
    return this.open && this.endpoint.send({ iosig: topic, kind: 'tell', id: 0, body }, written);
  }

  /** Low level: use an Asker, which pairs answers, bounds what is in flight and times out. */
  sendAsk(topic: string, id: number, body: unknown): boolean {
    return this.open && this.endpoint.send({ iosig: topic, kind: 'ask', id, body });
  }

  onTell(topic: string, handler: (body: unknown) => void): void {
    this.tellHandlers.set(topic, handler);
  }

  /** Asks on `topic` are answered with what `handler` returns, at once. */
  onAsk(topic: string, handler: (body: unknown) => unknown): void {
    this.askHandlers.set(topic, handler);
  }

  onAnswer(topic: string, handler: (id: number, body: unknown) => void): void {
    this.answerHandlers.set(topic, handler);
  }

  onClose(handler: () => void): void {
    if (!this.open) handler();
    else this.closeHandlers.push(handler);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    for (const handler of this.closeHandlers.splice(0)) handler();
  }

  private receive(message: IpcMessage): void {
    if (!this.open) return;
    const { iosig: topic, kind, id, body } = message;
    if (kind === 'tell') this.tellHandlers.get(topic)?.(body);
    else if (kind === 'answer') this.answerHandlers.get(topic)?.(id, body);
    else {
      const handler = this.askHandlers.get(topic);
      // An ask nobody here handles still gets an answer (undefined), so the asker's slot is freed at once.
      this.endpoint.send({ iosig: topic, kind: 'answer', id, body: handler ? handler(body) : undefined });
    }
  }
}

/** What an ask resolves to when no answer came in time, or when too many asks were in flight, or the pipe closed. */
export const UNANSWERED: unique symbol = Symbol('unanswered');
/** The type of UNANSWERED. */
export type Unanswered = typeof UNANSWERED;

/** How long an ask may wait and how many may be in flight at once. */
export interface AskLimits {
  /** How long an ask waits for its answer before it resolves UNANSWERED (ms). */
  timeoutMs: number;
  /** Most asks in flight; an ask beyond it resolves UNANSWERED at once. */
  inFlight: number;
}

interface Pending<Q, A> {
  question: Q;
  at: number;
  /** Cleared once the caller has its result (an answer, or UNANSWERED on time-out). */
  resolve: ((answer: A | Unanswered) => void) | null;
}

/**
 * Asks on one topic with a bound on asks in flight and a time-out. An answer that arrives after its ask timed out
 * is handed to `late` (e.g. to give back a place the other end granted meanwhile); such an ask stays counted in
 * flight until then, so an end that stops answering ends up refusing everything at once rather than piling up.
 */
export class Asker<Q, A> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending<Q, A>>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(
    private readonly port: IpcPort,
    private readonly topic: string,
    private readonly limits: AskLimits,
    private readonly late: (question: Q, answer: A) => void = () => undefined,
  ) {
    port.onAnswer(topic, (id, body) => this.answered(id, body as A));
    port.onClose(() => this.close());
  }

  get inFlight(): number {
    return this.pending.size;
  }

  ask(question: Q): Promise<A | Unanswered> {
    if (this.pending.size >= this.limits.inFlight || !this.port.isOpen) return Promise.resolve(UNANSWERED);
    const id = this.nextId++;
    if (!this.port.sendAsk(this.topic, id, question)) return Promise.resolve(UNANSWERED);
    // Not unref'd: an ask waits for something, like a socket does (the interval stops when nothing is in flight).
    this.sweep ??= setInterval(() => this.expire(), Math.max(10, this.limits.timeoutMs / 4));
    return new Promise((resolve) => this.pending.set(id, { question, at: Date.now(), resolve }));
  }

  /** Every ask still waiting resolves UNANSWERED; late answers are no longer expected. */
  close(): void {
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = null;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.resolve?.(UNANSWERED);
  }

  private answered(id: number, answer: A): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (p.resolve) p.resolve(answer);
    else this.late(p.question, answer);
    if (this.pending.size === 0 && this.sweep) {
      clearInterval(this.sweep);
      this.sweep = null;
    }
  }

  /** Oldest first (the map keeps ask order): stops at the first ask that still has time. */
  private expire(): void {
    const cutoff = Date.now() - this.limits.timeoutMs;
    for (const p of this.pending.values()) {
      if (p.at > cutoff) break;
      if (!p.resolve) continue;
      const resolve = p.resolve;
      p.resolve = null;
      resolve(UNANSWERED);
    }
  }
}
