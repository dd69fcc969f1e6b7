// WebSocket transport on uWebSockets.js: one binary frame = one message (PROTOCOL.md §1.1).
import uWS from 'uWebSockets.js';
import type { ServerOptions } from '../options.js';
import type { Counters } from '../metrics/counters.js';
import type { Connection, PeerInfo } from '../connection/connection.js';
import { PONG_MSG } from '../protocol/messages.js';
import type { Link, Outbound } from './link.js';

interface SocketData {
  peer: PeerInfo;
  link: WsLink | null;
}

type Socket = uWS.WebSocket<SocketData>;

/** Creates the connection for a new link; the server supplies it. */
export type AcceptLink = (link: Link, peer: PeerInfo) => Connection;

const SEND_DROPPED = 2;

class WsLink implements Link {
  readonly transport = 'ws' as const;
  conn: Connection | null = null;
  closed = false;
  /** Set when we close it ourselves, so the close handler can tell why. */
  closeReason: string | null = null;
  /** A send found it over the backpressure limit at least once. */
  congested = false;

  constructor(
    private readonly ws: Socket,
    readonly peerAddress: string,
    private readonly counters: Counters,
    private readonly options: ServerOptions,
  ) {}

  send(msg: Uint8Array): boolean {
    if (this.closed) return false;
    const status = this.ws.send(msg, true);
    if (status === SEND_DROPPED) return this.onDropped();
    return true;
  }

  sendShared(out: Outbound): boolean {
    return this.send(out.msg);
  }

  private onDropped(): boolean {
    this.congested = true;
    if (this.options.slowConsumer === 'close') {
      this.counters.slowConsumerCloses++;
      this.destroy('slow consumer: send buffer over the backpressure limit');
    } else {
      this.counters.drops++;
    }
    return false;
  }

  probe(): void {
    if (!this.closed) this.ws.ping();
  }

  answerPing(): void {
    // uWS.js exposes no pong() call, so a PING message gets a PONG message back (allowed by Q32).
    this.send(PONG_MSG);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.ws.end();
  }

  destroy(reason: string): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.ws.close();
  }

  joinTopic(key: string): boolean {
    if (this.closed) return false;
    this.ws.subscribe(key);
    return true;
  }

  leaveTopic(key: string): void {
    if (!this.closed) this.ws.unsubscribe(key);
  }

  buffered(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }
}

export interface WsTransport {
  readonly port: number;
  readonly app: uWS.TemplatedApp;
  close(): void;
}

function headerValue(req: uWS.HttpRequest, name: string): string | undefined {
  const value = req.getHeader(name);
  return value === '' ? undefined : value;
}

/** Starts the WebSocket listener; resolves with the bound port. */
export function listenWs(options: ServerOptions, counters: Counters, accept: AcceptLink): Promise<WsTransport> {
  const app = uWS.App();
  const sockets = new Set<Socket>();
  const close = (): void => {
    if (listenSocket) uWS.us_listen_socket_close(listenSocket);
    listenSocket = null;
    for (const ws of [...sockets]) ws.close();
  };
  let listenSocket: uWS.us_listen_socket | null = null;

  app.ws<SocketData>('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: options.maxMessageSize,
    maxBackpressure: options.maxBackpressure,
    closeOnBackpressureLimit: options.slowConsumer === 'close' ? 1 : 0,
    idleTimeout: 0, // our own keepalive sweep decides (§1.3)
    sendPingsAutomatically: false,
    upgrade: (res, req, context) => {
      const peer: PeerInfo = {
        peerIp: Buffer.from(res.getRemoteAddressAsText()).toString(),
        forwardedFor: headerValue(req, 'x-forwarded-for'),
        forwardedProto: headerValue(req, 'x-forwarded-proto'),
      };
      res.upgrade<SocketData>(
        { peer, link: null },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      const data = ws.getUserData();
      const link = new WsLink(ws, data.peer.peerIp, counters, options);
      data.link = link;
      sockets.add(ws);
      counters.acceptedWs++;
      link.conn = accept(link, data.peer);
    },
    message: (ws, message, isBinary) => {
      const conn = ws.getUserData().link?.conn;
      if (!conn) return;
      if (isBinary) conn.receive(new Uint8Array(message));
      else conn.receiveText(Buffer.from(message).toString('utf8'), message.byteLength);
    },
    ping: (ws) => {
      const conn = ws.getUserData().link?.conn;
      if (conn) conn.alive = true;
    },
    pong: (ws) => {
      const conn = ws.getUserData().link?.conn;
      if (conn) conn.alive = true;
    },
    drain: (ws) => {
      const link = ws.getUserData().link;
      if (link && ws.getBufferedAmount() === 0) link.congested = false;
    },
    close: (ws, code) => {
      sockets.delete(ws);
      const link = ws.getUserData().link;
      if (!link) return;
      link.closed = true;
      if (link.closeReason === null && options.slowConsumer === 'close' && code === 1006 && link.congested) {
        counters.slowConsumerCloses++;
      }
      link.conn?.onLinkClosed();
    },
  });

  app.any('/*', (res) => {
    res.writeStatus('426 Upgrade Required').writeHeader('Content-Type', 'text/plain').end('iosig: connect with a WebSocket client\n');
  });

  return new Promise((resolve, reject) => {
    app.listen(options.host, options.port ?? 0, (token) => {
      if (!token) {
        reject(new Error(`cannot listen for WebSocket on ${options.host}:${options.port} (port in use?)`));
        return;
      }
      listenSocket = token;
      resolve({ port: uWS.us_socket_local_port(token), app, close });
    });
  });
}
