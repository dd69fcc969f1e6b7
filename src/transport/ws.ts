// WebSocket transport on uWebSockets.js: one binary frame = one message (PROTOCOL.md §1.1).
import uWS from 'uWebSockets.js';
import { webSocketBufferLimit, type ServerOptions } from '../options.js';
import type { Counters } from '../metrics/counters.js';
import { PONG_MSG } from '../protocol/messages.js';
import type { AcceptLink, AdmitPeer, Link, PeerInfo } from './link.js';
import type { Outbound } from '../delivery/outbound.js';
import type { TopicSocket } from '../delivery/receiver.js';
import { SEND_DROPPED, WsBacklog } from './ws-backlog.js';
import { PEER_HEADER, peerFromFront, startTlsFront } from './tls-front.js';
import { tlsServerOptions } from './tls-options.js';
import { bearerFromHeader } from '../connection/identity.js';
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
 * Slow consumers: uWS's own maxBackpressure is our limit (a backstop between our checks), and we apply the policy
 * ourselves so that every drop and close is counted. Native publishes are checked by the native delivery group; this link checks its own sends. A link over
 * the limit under the drop policy leaves the native topics (its connection stops sharing bytes), so its
 * deliveries come through the stream path, where they are dropped and counted until it drains.
 */
class WsLink extends WsBacklog<Socket> implements Link, TopicSocket {
  // A getter, not a field: one property fewer on every connection.
  get transport(): 'ws' {
    return 'ws';
  }

  /** Callers check hasRoom first; uWS's own limit is ours, so a send it drops is one that passed the limit. */
  send(msg: Uint8Array): boolean {
    if (this.closed) return false;
    return this.socket.send(msg, true) !== SEND_DROPPED;
  }

  sendShared(out: Outbound): boolean {
    return this.send(out.msg);
  }

  /** Native topics deliver to everyone alike, so an over-limit link must not be in them. */
  topics(): TopicSocket | null {
    return this.closed || this.overLimit ? null : this;
  }

  subscribe(key: string): void {
    this.socket.subscribe(key);
  }

  unsubscribe(key: string): void {
    if (!this.closed) this.socket.unsubscribe(key);
  }

  probe(): void {
    if (!this.closed) this.socket.ping();
  }

  answerPing(): void {
    // uWS.js exposes no pong() call, so a PING message gets a PONG message back (allowed by Q32).
    if (!this.closed) this.socket.send(PONG_MSG, true);
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
  close(): void;
}

function headerValue(req: uWS.HttpRequest, name: string): string | undefined {
  const value = req.getHeader(name);
  return value === '' ? undefined : value;
}

/** Registers HTTP routes (metrics, status API, dashboard) on the WebSocket port's app. */
export type HttpRoutes = (app: uWS.TemplatedApp) => void;

/** Starts the WebSocket listener; resolves with the bound port. */
export async function listenWs(
  options: ServerOptions,
  counters: Counters,
  accept: AcceptLink,
  routes?: HttpRoutes,
  admit: AdmitPeer = () => true,
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
  // Connections are closed by their owner (the server); this only stops accepting.
  const close = (): void => {
    if (listenSocket) uWS.us_listen_socket_close(listenSocket);
    listenSocket = null;
  };
  let listenSocket: uWS.us_listen_socket | null = null;

  app.ws<SocketData>('/*', {
    compression: uWS.DISABLED,
    maxPayloadLength: options.maxMessageSize,
    // uWS skips a socket whose backlog is over this when sending or publishing, so no socket ever holds more
    // than limit + one message, even between our checks (native publishes give no per-socket feedback). Our own
    // checks (hasRoom, the native group's) apply the slow-consumer policy and count. 0 would mean "no limit".
    maxBackpressure: webSocketBufferLimit(options.maxBackpressure),
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
      let certNames: string[] = [];
      if (fronted) {
        const fromFront = peerFromFront(req.getHeader(PEER_HEADER));
        if (fromFront === null) {
          res.writeStatus('403 Forbidden').end();
          return;
        }
        peerIp = fromFront.ip;
        certNames = fromFront.certNames;
      }
      const bearer = bearerFromHeader(headerValue(req, 'authorization'));
      const peer: PeerInfo = {
        peerIp,
        forwardedFor: headerValue(req, 'x-forwarded-for'),
        forwardedProto: headerValue(req, 'x-forwarded-proto'),
        tls: files !== null,
      };
      // A bearer token is the device's explicit choice, so it wins over a certificate.
      if (bearer) peer.identity = { kind: 'bearer', ...bearer };
      else if (certNames.length > 0) peer.identity = { kind: 'certificate', names: certNames };
      if (!admit(peer)) {
        // Over a connection cap: answered and closed before any WebSocket state exists.
        res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('Retry-After', '10').end('iosig: too many connections\n', true));
        return;
      }
      res.upgrade<SocketData>(
        { peer, plain, link: null },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      const data = ws.getUserData();
      const peer = data.peer!;
      data.peer = null;
      counters.acceptedWs++;
      if (data.plain) {
        const plainLink = new PlainLink(ws, plainLimits(options), data.plain, counters);
        data.plain = null;
        data.link = plainLink;
        plainLink.conn = accept(plainLink, peer);
        plainLink.start();
        return;
      }
      const link = new WsLink(ws, webSocketBufferLimit(options.maxBackpressure));
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

  const listenPort = fronted ? 0 : (options.port ?? 0);
  const bindUws = (host: string): Promise<number | null> =>
    new Promise((resolve) => {
      app.listen(host, listenPort, (token) => {
        if (!token) return resolve(null);
        listenSocket = token;
        resolve(uWS.us_socket_local_port(token));
      });
    });
  const listenHost = fronted ? '127.0.0.1' : options.host;
  let bound = await bindUws(listenHost);
  const fallback = fronted ? null : fallbackHost(listenHost);
  if (bound === null && fallback !== null) {
    options.log(fallbackLine('WebSocket', listenPort));
    bound = await bindUws(fallback);
  }
  if (bound === null) throw new Error(`cannot listen for WebSocket on ${listenHost}:${listenPort} (port in use?)`);
  const innerPort = bound;
  if (!fronted) return { port: innerPort, app, close };
  const front = await startTlsFront(tlsServerOptions(options)!, options.host, options.port ?? 0, innerPort, counters, options.log).catch(
    (err: unknown) => {
      close();
      throw err;
    },
  );
  return {
    port: front.port,
    app,
    close: () => {
      void front.close();
      close();
    },
  };
}
