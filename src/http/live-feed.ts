// Server-sent events to open dashboards. A client that cannot keep up skips frames until its socket drains;
// every frame is a full picture (or a batch of tail lines), so skipping never corrupts the page.
import type uWS from 'uWebSockets.js';
import type { AccessLevel } from './dashboard-types.js';
import { canRead } from './access.js';

/**
 * Open feeds per access level. Anonymous (counters-only) viewers have their own small cap, so a crowd of them can
 * never lock out a reader; an admin (holder of the token) is always admitted.
 */
export const MAX_FEED_CLIENTS = 32;
export const MAX_ANONYMOUS_FEED_CLIENTS = 8;
/**
 * Anonymous viewers from one address: one address holding every anonymous place (eight streams it never reads
 * cost it nothing) would shut every other viewer out for as long as it likes.
 */
export const MAX_ANONYMOUS_FEED_PER_ADDRESS = 2;
/** A comment line now and then keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

interface FeedClient {
  res: uWS.HttpResponse;
  access: AccessLevel;
  /** The peer's address (the front's peer under mutual TLS). */
  address: string;
  congested: boolean;
}

export type FeedEvent = 'hello' | 'tick' | 'tail';

function frame(event: FeedEvent, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class LiveFeed {
  private readonly clients = new Set<FeedClient>();
  private readonly heartbeat: NodeJS.Timeout;

  /** `onReadersChanged` tells whether any client may read more than counters. */
  constructor(private readonly onReadersChanged: (hasReaders: boolean) => void) {
    this.heartbeat = setInterval(() => this.writeAll(':\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  private count(access: AccessLevel): number {
    let n = 0;
    for (const client of this.clients) if (client.access === access) n++;
    return n;
  }

  private countFrom(address: string): number {
    let n = 0;
    for (const client of this.clients) if (client.access === 'counters' && client.address === address) n++;
    return n;
  }

  get hasReaders(): boolean {
    for (const client of this.clients) if (canRead(client.access)) return true;
    return false;
  }

  /** Opens the stream; returns false when the feed is full, or the address's share of it (the caller answers 503). */
  open(res: uWS.HttpResponse, access: AccessLevel, address: string, hello: unknown): boolean {
    if (access !== 'admin' && this.count(access) >= (access === 'counters' ? MAX_ANONYMOUS_FEED_CLIENTS : MAX_FEED_CLIENTS)) return false;
    if (access === 'counters' && this.countFrom(address) >= MAX_ANONYMOUS_FEED_PER_ADDRESS) return false;
    const client: FeedClient = { res, access, address, congested: false };
    res.onAborted(() => this.drop(client));
    res.onWritable(() => {
      client.congested = false;
      return true;
    });
    this.clients.add(client);
    res.cork(() => {
      res
        .writeStatus('200 OK')
        .writeHeader('Content-Type', 'text/event-stream; charset=utf-8')
        .writeHeader('Cache-Control', 'no-store')
        .writeHeader('X-Content-Type-Options', 'nosniff');
      this.write(client, frame('hello', hello));
    });
    if (canRead(access)) this.onReadersChanged(true);
    return true;
  }

  /** Sends `forReaders` to readers and `forOthers` (if any) to counter-only clients. */
  send(event: FeedEvent, forReaders: unknown, forOthers?: unknown): void {
    const readerFrame = frame(event, forReaders);
    const otherFrame = forOthers === undefined ? null : frame(event, forOthers);
    for (const client of this.clients) {
      const text = canRead(client.access) ? readerFrame : otherFrame;
      if (text !== null && !client.congested) client.res.cork(() => this.write(client, text));
    }
  }

  private writeAll(text: string): void {
    for (const client of this.clients) if (!client.congested) client.res.cork(() => this.write(client, text));
  }

  private write(client: FeedClient, text: string): void {
    if (!client.res.write(text)) client.congested = true;
  }

  private drop(client: FeedClient): void {
    const wasReader = canRead(client.access);
    this.clients.delete(client);
    if (wasReader && !this.hasReaders) this.onReadersChanged(false);
  }

  /** Ends every stream (server shutdown), so open dashboards do not keep the process alive. */
  close(): void {
    clearInterval(this.heartbeat);
    const clients = [...this.clients];
    this.clients.clear();
    // A forced close, not end(): an idle keep-alive socket would hold the event loop for a while.
    for (const client of clients) client.res.close();
    this.onReadersChanged(false);
  }
}
