// A small protocol client over the in-memory link (server.connectInMemory), for router and connection tests.
import type { IosigServer } from '../../src/server.js';
import type { MemoryEndpoint, MemoryLinkOptions } from '../../src/transport/memory.js';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { CID_REQ_MSG, encodeSignal, encodeTagMessage, signalTag } from '../../src/protocol/messages.js';
import { withTimeout } from '../kit/wait.js';

export class MemClient {
  private readonly inbox: Buffer[] = [];
  private waiter: (() => void) | null = null;
  closed = false;
  closeReason = '';
  cid = '';

  constructor(readonly endpoint: MemoryEndpoint) {
    endpoint.on('message', (msg: Buffer) => {
      this.inbox.push(msg);
      this.waiter?.();
    });
    endpoint.on('close', (reason: string) => {
      this.closed = true;
      this.closeReason = reason;
      this.waiter?.();
    });
  }

  /** Connects, reads the opening sequence and, unless `anonymous` is false, gets a CID. */
  static async open(server: IosigServer, opts: MemoryLinkOptions & { cid?: boolean } = {}): Promise<MemClient> {
    const client = new MemClient(server.connectInMemory(opts));
    assertType(await client.next(), MSG.SERVER_TIME_NONCE);
    assertType(await client.next(), MSG.SERVER_READY);
    if (opts.cid !== false) {
      client.send(CID_REQ_MSG);
      const res = await client.next();
      assertType(res, MSG.CID_RES);
      client.cid = res.subarray(1).toString('utf8');
    }
    return client;
  }

  send(msg: Uint8Array): void {
    this.endpoint.send(msg);
  }

  subscribe(tags: string): void {
    this.send(encodeTagMessage(MSG.SUBSCRIBE, tags));
  }

  unsubscribe(tags: string): void {
    this.send(encodeTagMessage(MSG.UNSUBSCRIBE, tags));
  }

  signal(tag: string, text: string): void {
    this.send(encodeSignal(tag, PAYLOAD.TEXT, Buffer.from(text)));
  }

  /** The next message (in arrival order), within `ms`. */
  async next(ms = 2000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.inbox.length === 0) {
      if (this.closed) throw new Error(`link closed (${this.closeReason || 'by the peer'}) while waiting for a message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${ms} ms`);
      await withTimeout(new Promise<void>((resolve) => (this.waiter = resolve)), left, 'a message').catch(() => undefined);
      this.waiter = null;
    }
    return this.inbox.shift()!;
  }

  /** The next SIGNAL as { tag, text }. */
  async nextSignal(ms = 2000): Promise<{ tag: string; text: string }> {
    const msg = await this.next(ms);
    assertType(msg, MSG.SIGNAL);
    const tag = signalTag(msg)!;
    return { tag, text: msg.subarray(3 + msg[1]!).toString('utf8') };
  }

  /** Resolves true if nothing arrives within `ms` (a bounded negative check). */
  async quiet(ms = 50): Promise<boolean> {
    if (this.inbox.length > 0) return false;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.inbox.length === 0;
  }

  /** A round trip through the server: everything sent before has been routed once the ECHO comes back. */
  async sync(): Promise<void> {
    const token = Buffer.from([MSG.ECHO, 0x73, 0x79, 0x6e, 0x63]);
    this.send(token);
    for (;;) {
      const msg = await this.next();
      if (msg.equals(token)) return;
      this.inbox.unshift(msg);
      throw new Error(`expected the ECHO, got type 0x${msg[0]!.toString(16)} first`);
    }
  }

  close(): void {
    this.endpoint.close();
  }
}

export function assertType(msg: Buffer, type: number): void {
  if (msg[0] !== type) throw new Error(`expected message type 0x${type.toString(16)}, got 0x${msg[0]?.toString(16)}`);
}
