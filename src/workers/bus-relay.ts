// The bus between the workers of `io-server --workers` when no Redis is configured: the primary runs a memory hub
// (cluster/memory-links.ts) and its shared state, and relays over each worker's IPC pipe (ipc.ts) — subscriptions
// and publishes come in, each worker gets what its subscriptions match, batched per turn. The workers' end is
// ipc-links.ts. A worker that exits loses its subscriptions at once; its leases expire as they would on Redis.
import { Inbox, MemoryHub, STORE_OPS, runOn, type HubSubscriber, type StoreOp } from '../cluster/memory-links.js';
import type { IpcPort } from './ipc.js';

export const BUS_TOPIC = 'bus';
export const STORE_TOPIC = 'bus-store';

/** Worker → primary (tell): its subscriptions change. Primary → worker (tell): messages of its channels, in order. */
export type BusTell = { op: 'sub' | 'unsub'; channels: string[] } | { op: 'msg'; messages: [string, Buffer][] };
/** Worker → primary (ask): messages to publish, in order; the answer is, per message, how many subscriptions got it. */
export interface BusPublishAsk {
  messages: [string, Buffer][];
}
/** Worker → primary (ask): one store operation (ClusterStore, cluster/links.ts); the answer: its value or an error. */
export interface StoreAsk {
  op: StoreOp;
  args: unknown[];
}
export type StoreAnswer = { value: unknown } | { error: string };

const OPS: ReadonlySet<string> = new Set(STORE_OPS);

/**
 * Bytes the primary may hold queued for one worker (written to its pipe, not yet taken by it). A worker that stops
 * reading — frozen, or outrun by a flood — loses what passes this, as Redis cuts a slow subscriber; the worker
 * counts the loss as sequence gaps, and the primary's memory stays bounded.
 */
export const RELAY_QUEUE_BYTES = 64 * 1024 * 1024;

/** Bytes off the pipe as a Buffer, without a copy (node's IPC gives Buffers back; a structured clone, Uint8Arrays). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class BusRelay {
  readonly hub = new MemoryHub();
  /** Messages not relayed to a worker because its queue was full (RELAY_QUEUE_BYTES). */
  dropped = 0;

  constructor(private readonly queueBytes = RELAY_QUEUE_BYTES) {}

  /** Relays worker `port`'s bus until its pipe closes. */
  attach(port: IpcPort): void {
    let queued = 0;
    const inbox = new Inbox((messages) => {
      let bytes = 0;
      for (const m of messages) bytes += m.payload.length;
      if (queued + bytes > this.queueBytes) {
        this.dropped += messages.length;
        return;
      }
      const tell: BusTell = { op: 'msg', messages: messages.map((m) => [m.channel, m.payload]) };
      if (port.tell(BUS_TOPIC, tell, () => (queued -= bytes))) queued += bytes;
    }, setImmediate);
    const subscriber: HubSubscriber = { deliver: (channel, payload) => inbox.push(channel, payload) };
    port.onTell(BUS_TOPIC, (body) => {
      const tell = body as BusTell;
      if (!Array.isArray((tell as { channels?: unknown }).channels)) return;
      const channels = (tell as { channels: unknown[] }).channels.filter((c): c is string => typeof c === 'string');
      if (tell.op === 'sub') this.hub.subscribe(subscriber, channels);
      else if (tell.op === 'unsub') this.hub.unsubscribe(subscriber, channels);
    });
    port.onAsk(BUS_TOPIC, (body) => {
      const messages = (body as BusPublishAsk | undefined)?.messages;
      if (!Array.isArray(messages)) return [];
      return messages.map((m) => (Array.isArray(m) && typeof m[0] === 'string' && m[1] instanceof Uint8Array ? this.hub.publish(m[0], asBuffer(m[1])) : null));
    });
    port.onAsk(STORE_TOPIC, (body) => this.store(body as StoreAsk));
    port.onClose(() => {
      this.hub.drop(subscriber);
      inbox.clear();
    });
  }

  private store(ask: StoreAsk): StoreAnswer {
    if (!ask || !OPS.has(ask.op) || !Array.isArray(ask.args)) return { error: 'malformed store ask' };
    try {
      return { value: runOn(this.hub.state, ask.op, ask.args) };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }
}
