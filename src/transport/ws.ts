// WebSocket transport on uWebSockets.js: one binary frame = one message (PROTOCOL.md §1.1).
import uWS from 'uWebSockets.js';
import { backlogLimits, type BacklogLimits, type ServerOptions } from '../options.js';
import type { Stats } from '../metrics/stats.js';
import { PONG_MSG } from '../protocol/messages.js';
import type { AcceptLink, Doorkeeper, Link, PeerInfo } from './link.js';
import type { PausableListener } from './descriptor-guard.js';
import type { Outbound } from '../delivery/outbound.js';
import { SEND_DROPPED, WsBacklog } from './ws-backlog.js';
import { TurnJudge, WsTopicSocket, uwsSendLimit, type TopicOwner } from './ws-topics.js';
import { PEER_HEADER, peerFromFront, startTlsFront } from './tls-front.js';
import { tlsServerOptions } from './tls-options.js';
import { bearerFromHeader } from '../guard/identity.js';
import { fallbackHost, fallbackLine } from './listen-host.js';
import { PlainLink, plainLimits, type PlainRequest } from '../plain/plain-link.js';
import { parsePlainRequest } from '../plain/request.js';

interface SocketData {
  /** What the upgrade saw; dropped once the connection exists. */
  peer: PeerInfo | null;
  /** Set for the plain endpoint (`/plain/<channels>`): the link translates frames. */
  plain: PlainRequest | null;
  link: WsLink | PlainLink | null;
}

type Socket = uWS.WebSocket<SocketData>;

/**
 * Slow consumers: the link judges its own sends (hasRoom before each, uWS's send status after), and native
 * publishes reach it through its topic socket (ws-topics.ts), which keeps every counted delivery a written one.
 * A link over the limit under the drop policy leaves the native topics (its connection stops sharing bytes), so
 * its deliveries come through the stream path, where they are dropped and counted until it drains.
 */
class WsLink extends WsBacklog<Socket> implements Link, TopicOwner {
  /** Made on the first subscription: idle connections stay small. */
  private native: WsTopicSocket | null = null;

  constructor(
    socket: Socket,
    limits: BacklogLimits,
    private readonly judge: TurnJudge,
  ) {
    super(socket, limits);
  }

  // A getter, not a field: one property fewer on every connection.
  get transport(): 'ws' {
    return 'ws';
  }

  /** Callers check hasRoom first; uWS's own limit is above the hard cap, so uWS drops nothing we let through. */
  send(msg: Uint8Array): boolean {
    if (this.closed) return false;
    const status = this.socket.send(msg, true);
    this.native?.sent(msg.length);
    return status !== SEND_DROPPED;
  }

  sendShared(out: Outbound): boolean {
    return this.send(out.msg);
  }

  /** Native topics deliver to everyone alike, so an over-limit link must not be in them. */
  topics(): WsTopicSocket | null {
    if (this.closed || this.overLimit) return null;
    return (this.native ??= new WsTopicSocket(this.socket, this, this.judge));
  }

  fellBehind(): void {
    this.conn?.fellBehind();
  }

  overCap(): void {
    this.conn?.overCap();
  }

  override relieve(): void {
    this.native?.drained();
    super.relieve();
  }

  probe(): void {
    if (this.closed) return;
    this.socket.ping();
    this.native?.sent(0);
  }

  answerPing(): void {
    // uWS.js exposes no pong() call, so a PING message gets a PONG message back (allowed by Q32).
    if (!this.closed) this.send(PONG_MSG);
  }

  close(_reason: string): void {
    if (this.closed) return;
    this.socket.end();
  }

  destroy(_reason: string): void {
    if (this.closed) return;
    this.socket.close();
  }
}

export interface WsTransport {
  readonly port: number;
  readonly app: uWS.TemplatedApp;
  /** The uWS listen sockets, for the descriptor guard. */
  readonly listeners: readonly PausableListener[];
  close(): void;
}

function headerValue(req: uWS.HttpRequest, name: string): string | undefined {
  const value = req.getHeader(name);
  return value === '' ? undefined : value;
}

/** Over a connection cap: answered and closed before any WebSocket state exists. */
function refuseUpgrade(res: uWS.HttpResponse): void {
  res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('Retry-After', '10').end('iosig: too many connections\n', true));
}

/**
 * --workers: the primary answers for the host's caps. The request's headers are read now (the request object
 * is only valid during the upgrade callback); a client that left meanwhile gives its granted place back.
 */
function upgradeLater(
  res: uWS.HttpResponse,
  req: uWS.HttpRequest,
  context: uWS.us_socket_context_t,
  data: SocketData,
  admitted: Promise<boolean>,
  door: Doorkeeper,
): void {
  const key = req.getHeader('sec-websocket-key');
  const protocol = req.getHeader('sec-websocket-protocol');
  const extensions = req.getHeader('sec-websocket-extensions');
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  void admitted.then((ok) => {
    if (aborted) {
      if (ok) door.unused(data.peer!);
      return;
    }
    if (ok) res.cork(() => res.upgrade<SocketData>(data, key, protocol, extensions, context));
    else refuseUpgrade(res);
  });
}

/** Registers HTTP routes (metrics, status API, dashboard) on the WebSocket port's app. */
export type HttpRoutes = (app: uWS.TemplatedApp) => void;

/** Starts the WebSocket listener; resolves with the bound port. */
export async function listenWs(
  options: ServerOptions,
  stats: Stats,
  accept: AcceptLink,
  routes: HttpRoutes | undefined,
  door: Doorkeeper,
): Promise<WsTransport> {
  const files = options.tls;
  // Mutual TLS goes through node:tls (see tls-front.ts); plain TLS is terminated by uWS itself.
  const fronted = files?.ca !== undefined;
  const app = files && !fronted
    ? uWS.SSLApp({
        cert_file_name: files.cert,
        key_file_name: files.key,
        passphrase: files.passphrase,
      })
    : uWS.App();
  const judge = new TurnJudge();
  const limits = backlogLimits(options, 'ws');

  app.ws<SocketData>('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: options.maxMessageSize,
    // uWS skips a socket whose backlog is over this when sending or publishing, without telling anyone: it sits
    // above our own limit by what one turn may queue, and the topic sockets never let a socket we count reach it
    // (ws-topics.ts). Our own checks apply the slow-consumer policy and count. 0 would mean "no limit".
    maxBackpressure: uwsSendLimit(limits.hard),
    closeOnBackpressureLimit: 0,
    idleTimeout: 0, // our own keepalive sweep decides (§1.3)
    sendPingsAutomatically: false,
    upgrade: (res, req, context) => {
      let plain: PlainRequest | null = null;
      const url = req.getUrl();
      if (options.plainPrefix !== null && url.startsWith(options.plainPrefix)) {
        const parsed = parsePlainRequest(url, req.getQuery() ?? '', options.plainPrefix);
        if (!parsed.ok) {
          res.writeStatus('400 Bad Request').writeHeader('Content-Type', 'text/plain').end(`iosig: ${parsed.reason}\n`);
          return;
        }
        plain = { channels: parsed.channels, format: parsed.format };
      }
      let peerIp = Buffer.from(res.getRemoteAddressAsText()).toString();
      let certId: string | null = null;
      if (fronted) {
        const fromFront = peerFromFront(req.getHeader(PEER_HEADER));
        if (fromFront === null) {
          res.writeStatus('403 Forbidden').end();
          return;
        }
        peerIp = fromFront.ip;
        certId = fromFront.certId;
      }
      const bearer = bearerFromHeader(headerValue(req, 'authorization'));
      const peer: PeerInfo = {
        peerIp,
        forwardedFor: headerValue(req, 'x-forwarded-for'),
        forwardedProto: headerValue(req, 'x-forwarded-proto'),
        tls: files !== null,
        // The TLS front counts its sockets from their accept until they close.
        counted: fronted,
      };
      // A bearer token is the device's explicit choice, so it wins over a certificate.
      if (bearer) peer.identity = { kind: 'bearer', ...bearer };
      else if (certId !== null) peer.identity = { kind: 'certificate', id: certId };
      // A fronted peer skips this process's caps (counted since its accept) but not the host's (--workers).
      const admitted = door.admit(peer);
      if (admitted === true) {
        res.upgrade<SocketData>(
          { peer, plain, link: null },
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      } else if (admitted === false) {
        refuseUpgrade(res);
      } else {
        upgradeLater(res, req, context, { peer, plain, link: null }, admitted, door);
      }
    },
    open: (ws) => {
      const data = ws.getUserData();
      const peer = data.peer!;
      data.peer = null;
      stats.acceptedWs++;
      if (data.plain) {
        const plainLink = new PlainLink(ws, limits, plainLimits(options), data.plain, stats);
        data.plain = null;
        data.link = plainLink;
        plainLink.conn = accept(plainLink, peer);
        plainLink.start();
        return;
      }
      const link = new WsLink(ws, limits, judge);
      data.link = link;
      link.conn = accept(link, peer);
    },
    message: (ws, message, isBinary) => {
      const link = ws.getUserData().link;
      if (link instanceof PlainLink) return link.fromDevice(Buffer.from(message), isBinary);
      const conn = link?.conn;
      if (!conn) return;
      if (isBinary) conn.receive(new Uint8Array(message));
      else conn.receiveText(Buffer.from(message).toString('utf8'), message.byteLength);
    },
    ping: (ws) => {
      ws.getUserData().link?.conn?.heard();
    },
    pong: (ws) => {
      ws.getUserData().link?.conn?.heard();
    },
    drain: (ws) => {
      ws.getUserData().link?.relieve();
    },
    close: (ws) => {
      const link = ws.getUserData().link;
      if (!link) return;
      link.closed = true;
      link.conn?.linkClosed();
    },
  });

  routes?.(app);
  app.any('/*', (res) => {
    res.writeStatus('426 Upgrade Required').writeHeader('Content-Type', 'text/plain').end('iosig: connect with a WebSocket client\n');
  });

  const listener = bindListener(app, fronted ? '127.0.0.1' : options.host, fronted ? 0 : (options.port ?? 0), !fronted, options.log);
  if (!fronted) return { port: listener.port, app, listeners: [listener], close: () => listener.close() };
  const front = await startTlsFront(tlsServerOptions(options)!, options, listener.port, stats, door.admitSocket).catch((err: unknown) => {
    listener.close();
    throw err;
  });
  return {
    port: front.port,
    app,
    listeners: [listener],
    close: () => {
      void front.close();
      listener.close();
    },
  };
}

/** One uWS listen socket that can stop accepting and bind its port again (the descriptor guard pauses it). */
class UwsListener implements PausableListener {
  private closed = false;

  constructor(
    private readonly app: uWS.TemplatedApp,
    private readonly host: string,
    readonly port: number,
    private socket: uWS.us_listen_socket | null,
    readonly name: string,
  ) {}

  pause(): void {
    if (this.socket) uWS.us_listen_socket_close(this.socket);
    this.socket = null;
  }

  resume(): boolean {
    if (this.closed) return true;
    if (this.socket === null) this.socket = listenUws(this.app, this.host, this.port);
    return this.socket !== null;
  }

  /** Stops accepting for good (connections are closed by their owner, the server). */
  close(): void {
    this.closed = true;
    this.pause();
  }
}

/** uWS calls back before listen() returns. */
function listenUws(app: uWS.TemplatedApp, host: string, port: number): uWS.us_listen_socket | null {
  let token: uWS.us_listen_socket | null = null;
  app.listen(host, port, (bound) => {
    token = bound || null;
  });
  return token;
}

/**
 * Binds the uWS listener, falling back to IPv4 where `::` cannot be bound. A port asked as 0 is bound again
 * by its number at once: uWS sets SO_REUSEADDR/SO_REUSEPORT only on a numbered port, and without them a paused
 * listener could not bind its port again while its old connections linger in TIME_WAIT.
 */
function bindListener(app: uWS.TemplatedApp, host: string, port: number, withFallback: boolean, log: (line: string) => void): UwsListener {
  let bindHost = host;
  let token = listenUws(app, bindHost, port);
  const fallback = withFallback ? fallbackHost(host) : null;
  if (token === null && fallback !== null) {
    log(fallbackLine('WebSocket', port));
    bindHost = fallback;
    token = listenUws(app, bindHost, port);
  }
  if (token === null) throw new Error(`cannot listen for WebSocket on ${host}:${port} (port in use?)`);
  let bound = uWS.us_socket_local_port(token);
  for (let attempt = 0; port === 0 && attempt < 5; attempt++) {
    uWS.us_listen_socket_close(token);
    const again = listenUws(app, bindHost, bound);
    if (again !== null) {
      token = again;
      break;
    }
    // Taken in between by someone else: pick another free port.
    token = listenUws(app, bindHost, 0);
    if (token === null) throw new Error(`cannot listen for WebSocket on ${bindHost}:0`);
    bound = uWS.us_socket_local_port(token);
  }
  return new UwsListener(app, bindHost, bound, token, withFallback ? `WebSocket port ${bound}` : `the internal WebSocket port ${bound} (behind the TLS front)`);
}
