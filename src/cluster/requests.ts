// The bus's request/reply job: questions to one node (or to whichever node holds a CID) and their answers, each
// with a time-out and a bound on how many wait at once; and the answering of other nodes' questions. The bus
// carries the envelopes (REQUEST, REPLY); this keeps the books.

/** Answers a question `op` (`arg`) from node `node`; the answer goes back as text. */
export type Answerer = (op: string, arg: string, node: string) => Promise<string>;

interface Pending {
  resolve: (result: string | null) => void;
  timer: NodeJS.Timeout;
}

export class Requests {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(
    /** Outstanding requests to other nodes at most; past it a request gets null at once. */
    private readonly maxPending: number,
    readonly answer: Answerer,
  ) {}

  /** A new request: its id and what it resolves to (null: no answer within `timeoutMs`); null when too many wait. */
  open(timeoutMs: number): { id: number; result: Promise<string | null> } | null {
    if (this.pending.size >= this.maxPending) return null;
    const id = ++this.nextId;
    const result = new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(null);
      }, timeoutMs);
      this.pending.set(id, { resolve, timer });
    });
    return { id, result };
  }

  /** The answer to request `id` (null: it cannot come, e.g. nobody received the request). */
  settle(id: number, result: string | null): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(result);
  }

  /** Every waiting request gets null (the bus closes). */
  close(): void {
    for (const id of [...this.pending.keys()]) this.settle(id, null);
  }
}
