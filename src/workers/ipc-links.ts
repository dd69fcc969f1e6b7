// A worker's end of the bus under `io-server --workers` without Redis (BusLinks, cluster/links.ts): its pipe to
// the primary, which relays between the workers (bus-relay.ts). One pipe keeps one order, so a subscription told
// before an announcement is in place before any other worker hears the announcement.
import { EventEmitter } from 'node:events';
import type { BusLinks, ClusterStore, OutgoingMessage } from '../cluster/links.js';
import { storeFrom } from '../cluster/memory-links.js';
import { Asker, UNANSWERED, type AskLimits, type IpcPort } from './ipc.js';
import { BUS_TOPIC, STORE_TOPIC, asBuffer, type BusPublishAsk, type BusTell, type StoreAnswer, type StoreAsk } from './bus-relay.js';

/** The primary answers at once; a second without an answer means it is stuck, and the messages count as lost. */
const BUS_ASK_LIMITS: AskLimits = { timeoutMs: 2000, inFlight: 4096 };

export class IpcLinks implements BusLinks {
  readonly label = "the workers' primary (IPC)";
  readonly events = new EventEmitter();
  readonly ordersAcrossChannels = true;
  readonly store: ClusterStore;
  private readonly publishes: Asker<BusPublishAsk, (number | null)[]>;
  private handler: (channel: Buffer | string, payload: Buffer) => void = () => undefined;
  private closed = false;

  constructor(private readonly port: IpcPort) {
    this.publishes = new Asker(port, BUS_TOPIC, BUS_ASK_LIMITS);
    this.store = ipcStore(new Asker(port, STORE_TOPIC, BUS_ASK_LIMITS));
    port.onTell(BUS_TOPIC, (body) => {
      const tell = body as BusTell;
      if (tell?.op !== 'msg' || this.closed) return;
      for (const [channel, payload] of tell.messages) this.handler(channel, asBuffer(payload));
    });
    port.onClose(() => this.events.emit('down'));
  }

  get isUp(): boolean {
    return !this.closed && this.port.isOpen;
  }

  publishAll(messages: readonly OutgoingMessage[], done: (receivers: (number | null)[]) => void): void {
    const ask: BusPublishAsk = { messages: messages.map((m) => [m.channel, m.payload]) };
    void this.publishes.ask(ask).then((answer) => done(answer === UNANSWERED || !Array.isArray(answer) ? messages.map(() => null) : answer));
  }

  async subscribe(channels: string[]): Promise<void> {
    if (!this.isUp || !this.port.tell(BUS_TOPIC, { op: 'sub', channels } satisfies BusTell)) throw new Error("the workers' primary is gone");
  }

  async unsubscribe(channels: string[]): Promise<void> {
    this.port.tell(BUS_TOPIC, { op: 'unsub', channels } satisfies BusTell);
  }

  onMessage(handler: (channel: Buffer | string, payload: Buffer) => void): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A ClusterStore whose every operation is asked of the primary's MemoryState. */
function ipcStore(asker: Asker<StoreAsk, StoreAnswer>): ClusterStore {
  return storeFrom(async (op, args) => {
    const answer = await asker.ask({ op, args });
    if (answer === UNANSWERED) throw new Error("the workers' primary did not answer");
    if ('error' in answer) throw new Error(answer.error);
    return answer.value instanceof Uint8Array ? asBuffer(answer.value) : answer.value;
  });
}
