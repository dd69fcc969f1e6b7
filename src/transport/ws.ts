// The WebSocket listener on uWebSockets.js: one binary frame = one message (docs/protocol.md §1.1). Each upgraded
// socket's frames go to its connection; the way back is its link (ws-link.ts), and native pub/sub publishes
// reach sockets through ws-topics.ts. The HTTP routes (metrics, status API, dashboard) share the port.
import uWS from 'uWebSockets.js';
import type { Stats } from '../metrics/stats.js';
import type { BacklogLimits } from '../delivery/receiver.js';
import type { PublishTopic } from '../delivery/native-topic-group.js';
import type { AcceptLink, Doorkeeper, Link, LinkOwner, PeerInfo } from './link.js';
import type { PausableListener } from './descriptor-guard.js';
import { WsLink } from './ws-link.js';
import { nativePublisher, uwsSendLimit } from './ws-topics.js';
import { PEER_HEADER, peerFromFront, startTlsFront } from './tls-front.js';
import { tlsServerOptions } from './tls-options.js';
import { backlogLimits, type ListenOptions } from './listen-options.js';
import { upgradeCredential } from '../auth/credentials.js';
import { fallbackHost, fallbackLine } from './listen-host.js';
import { requestBudgetOf } from '../http/request-budget.js';

interface SocketData {
  /** What the upgrade saw; dropped once the connection exists. */
  peer: PeerInfo | null;
  /** Set for a door's path (the plain endpoint, `/plain/<channels>`): what the link is asked to serve. */
  request: unknown;
  link: WsLink<SocketData> | DoorLink | null;
  /** An MQTT client (subprotocol `mqtt`): its bytes go to the MQTT engine, not to a connection. */
  mqtt: WsStream | null;
  /**
   * Upgraded after an answer from the primary (--workers): its connection is made one turn after `open` (see
   * openLater), and what the client sends meanwhile waits here; `gone` once it closed first.
   */
  early?: { frames: [ArrayBuffer, boolean][]; bytes: number; gone: boolean } | null;
}

/** What a client opened after an asynchronous upgrade may send before its connection exists (one turn). */
const EARLY_FRAMES = 64;
const EARLY_BYTES = 1 << 20;

/** A byte stream carried in binary WebSocket frames (MQTT over WebSocket). */
export interface WsStream {
  /** Bytes from the client (a copy: it may keep them). */
  feed(bytes: Buffer): void;
  /** The socket closed (once). */
  ended(): void;
}

/** The MQTT door of the WebSocket port: upgrades asking for the `mqtt` subprotocol. */
export interface WsMqttDoor {
  open(socket: uWS.WebSocket<unknown>, peer: PeerInfo): WsStream;
}

/** The `mqtt` subprotocol (MQTT 5 §6, 3.1.1 §6) among those a client offers. */
export function offersMqtt(protocols: string): boolean {
  return protocols.split(',').some((p) => p.trim().toLowerCase() === 'mqtt');
}

/** A link that reads its device's frames itself and translates them (the plain endpoint's link). */
export interface DoorLink extends Link {
  readonly kind: NonNullable<Link['kind']>;
  conn: LinkOwner | null;
  closed: boolean;
  /** After its connection exists (it asks for a CID and its channels). */
  start(): void;
  /** A frame from the device (a view valid during the call). */
  fromDevice(data: Uint8Array, isBinary: boolean): void;
  /** uWS's drain event. */
  relieve(): void;
}

/**
 * Another kind of client on the WebSocket port, chosen by the path of its upgrade request (the plain endpoint of
 * plain/, for devices that do not speak iosignal): what it serves, and its link. The server wires it in.
 */
export interface WsDoor {
  /** Paths starting with this go through the door (`/plain/`). */
  readonly prefix: string;
  /** The request a path asks for, or why it cannot be served (answered with 400). */
  request(path: string, query: string): { ok: true; request: unknown } | { ok: false; reason: string };
  link(socket: uWS.WebSocket<unknown>, limits: BacklogLimits, request: unknown): DoorLink;
}

export interface WsTransport {
  readonly port: number;
  readonly app: uWS.TemplatedApp;
  /** One message to every socket joined to topic `key` (native pub/sub: uWS copies the bytes from C++). */
  readonly publish: PublishTopic;
  /** The uWS listen sockets, for the descriptor guard. */
  readonly listeners: readonly PausableListener[];
  close(): void;
}

/** Marks an upgrade that asked for the `mqtt` subprotocol. */
const MQTT_REQUEST = Symbol('mqtt');

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
  protocol: string,
): void {
  const key = req.getHeader('sec-websocket-key');
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
    if (!ok) return refuseUpgrade(res);
    data.early = { frames: [], bytes: 0, gone: false };
    res.cork(() => res.upgrade<SocketData>(data, key, protocol, extensions, context));
  });
}

/** Registers HTTP routes (metrics, status API, dashboard) on the WebSocket port's app. */
export type HttpRoutes = (app: uWS.TemplatedApp) => void;

/** Starts the WebSocket listener; resolves with the bound port. */
export async function listenWs(
  options: ListenOptions,
  stats: Stats,
  accept: AcceptLink,
  routes: HttpRoutes | undefined,
  door: Doorkeeper,
  plain: WsDoor | null = null,
  mqtt: WsMqttDoor | null = null,
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
  const budget = requestBudgetOf(app, fronted);
  const limits = backlogLimits(options, 'ws');

  /** A new WebSocket's connection (or plain link, or MQTT stream). */
  const opened = (ws: uWS.WebSocket<SocketData>, data: SocketData): void => {
    const peer = data.peer!;
    data.peer = null;
    stats.acceptedWs++;
    if (data.request === MQTT_REQUEST && mqtt !== null) {
      data.request = null;
      data.mqtt = mqtt.open(ws as uWS.WebSocket<unknown>, peer);
      return;
    }
    if (data.request !== null && plain !== null) {
      const doorLink = plain.link(ws, limits, data.request);
      data.request = null;
      data.link = doorLink;
      doorLink.conn = accept(doorLink, peer);
      doorLink.start();
      return;
    }
    const link = new WsLink<SocketData>(ws, limits);
    data.link = link;
    link.conn = accept(link, peer);
  };

  /**
   * After an asynchronous upgrade the connection is made on the next turn, outside the cork the upgrade ran in:
   * uWS.js 20.30 can shut a socket upgraded inside `res.cork` whose `open` writes to it (uNetworking/uWebSockets
   * PR 1929, not in this build). Frames that come meanwhile are kept (bounded) and handed over in order.
   */
  const openLater = (ws: uWS.WebSocket<SocketData>, data: SocketData): void => {
    setImmediate(() => {
      const early = data.early!;
      data.early = null;
      if (early.gone) return door.unused(data.peer!);
      try {
        opened(ws, data);
        for (const [frame, isBinary] of early.frames) received(ws, data, frame, isBinary);
      } catch (err) {
        options.log(`ws: opening a connection failed: ${String(err)}`);
        if (data.early === null && !data.link?.closed) ws.end(1011, 'internal error');
      }
    });
  };

  /** A frame from the client, to its MQTT stream, door link or connection. */
  const received = (ws: uWS.WebSocket<SocketData>, data: SocketData, message: ArrayBuffer, isBinary: boolean): void => {
    // MQTT travels in binary frames only; a text frame closes the connection [MQTT-6.0.0-1].
    if (data.mqtt !== null) return isBinary ? data.mqtt.feed(Buffer.from(new Uint8Array(message))) : ws.end(1003, 'MQTT needs binary frames');
    const link = data.link;
    if (!(link instanceof WsLink)) return link?.fromDevice(Buffer.from(message), isBinary);
    const conn = link.conn;
    if (!conn) return;
    if (isBinary) conn.receive(new Uint8Array(message));
    else conn.receiveText(Buffer.from(message).toString('utf8'), message.byteLength);
  };

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
      let request: unknown = null;
      const url = req.getUrl();
      let protocol = req.getHeader('sec-websocket-protocol');
      const asMqtt = mqtt !== null && offersMqtt(protocol);
      if (asMqtt) protocol = 'mqtt';
      else if (plain !== null && url.startsWith(plain.prefix)) {
        const asked = plain.request(url, req.getQuery() ?? '');
        if (!asked.ok) {
          // Every refusal closes its connection and counts in the port's budget of requests per turn: uWS parses
          // the requests pipelined behind it in the same turn, and one read can hold thousands (request-budget.ts).
          if (!budget.admit(res, req)) return;
          res.writeStatus('400 Bad Request').writeHeader('Content-Type', 'text/plain').end(`iosig: ${asked.reason}\n`, true);
          return;
        }
        request = asked.request;
      }
      let peerIp = Buffer.from(res.getRemoteAddressAsText()).toString();
      let certId: string | null = null;
      if (fronted) {
        const fromFront = peerFromFront(req.getHeader(PEER_HEADER));
        if (fromFront === null) {
          if (!budget.admit(res, req)) return;
          res.writeStatus('403 Forbidden').end(undefined, true);
          return;
        }
        peerIp = fromFront.ip;
        certId = fromFront.certId;
      }
      // `Authorization: Bearer` or `?token=`: iosig's `<id>.<key>`, a JWT or an opaque token (both given must agree).
      const credential = upgradeCredential(headerValue(req, 'authorization'), req.getQuery() ?? '');
      if (credential === null) {
        if (!budget.admit(res, req)) return;
        res.writeStatus('400 Bad Request').writeHeader('Content-Type', 'text/plain').end('iosig: two different tokens, or ?token= more than once\n', true);
        return;
      }
      const forwarded = door.readsForwarded;
      const peer: PeerInfo = {
        peerIp,
        forwardedFor: forwarded ? headerValue(req, 'x-forwarded-for') : undefined,
        forwardedProto: forwarded ? headerValue(req, 'x-forwarded-proto') : undefined,
        tls: files !== null,
        listener: 'ws',
        // The TLS front counts its sockets from their accept until they close.
        counted: fronted,
      };
      if (req.getHeader('x-iosig-device') === 'serial') peer.device = 'serial';
      // A bearer token is the device's explicit choice, so it wins over a certificate as the login; the
      // certificate is kept beside it (the access rules' `cert:` subject, the auth hook's cert_id).
      if (certId !== null) peer.certificate = certId;
      if (credential.kind === 'key') peer.identity = { kind: 'bearer', id: credential.id, key: credential.key };
      else if (credential.kind === 'jwt' || credential.kind === 'opaque') peer.identity = { kind: 'token', token: credential.token };
      else if (certId !== null) peer.identity = { kind: 'certificate', id: certId };
      // A fronted peer skips this process's caps (counted since its accept) but not the host's (--workers).
      const admitted = door.admit(peer);
      const data: SocketData = { peer, request: asMqtt ? MQTT_REQUEST : request, link: null, mqtt: null };
      if (admitted === true) {
        res.upgrade<SocketData>(data, req.getHeader('sec-websocket-key'), protocol, req.getHeader('sec-websocket-extensions'), context);
      } else if (admitted === false) {
        refuseUpgrade(res);
      } else {
        upgradeLater(res, req, context, data, admitted, door, protocol);
      }
    },
    open: (ws) => {
      const data = ws.getUserData();
      if (data.early) return openLater(ws, data);
      opened(ws, data);
    },
    message: (ws, message, isBinary) => {
      const data = ws.getUserData();
      const early = data.early;
      if (!early) return received(ws, data, message, isBinary);
      // Before its connection exists (one turn): kept, as a copy (uWS reuses the buffer), within a bound.
      early.bytes += message.byteLength;
      if (early.frames.length >= EARLY_FRAMES || early.bytes > EARLY_BYTES) return ws.end(1008, 'too much sent before the connection opened');
      early.frames.push([message.slice(0), isBinary]);
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
      const data = ws.getUserData();
      if (data.early) {
        data.early.gone = true;
        return;
      }
      if (data.mqtt !== null) {
        const stream = data.mqtt;
        data.mqtt = null;
        return stream.ended();
      }
      const link = data.link;
      if (!link) return;
      link.closed = true;
      link.conn?.linkClosed();
    },
  });

  routes?.(app);
  app.any('/*', (res, req) => {
    if (!budget.admit(res, req)) return;
    // Closed after the answer, like every refusal on this port (see the upgrade handler).
    res.writeStatus('426 Upgrade Required').writeHeader('Content-Type', 'text/plain').end('iosig: connect with a WebSocket client\n', true);
  });

  const listener = bindListener(app, fronted ? '127.0.0.1' : options.host, fronted ? 0 : (options.port ?? 0), !fronted, options.log);
  const publish = nativePublisher(app);
  if (!fronted) return { port: listener.port, app, publish, listeners: [listener], close: () => listener.close() };
  const front = await startTlsFront(tlsServerOptions(options)!, options, listener.port, stats, door.admitSocket).catch((err: unknown) => {
    listener.close();
    throw err;
  });
  return {
    port: front.port,
    app,
    publish,
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
