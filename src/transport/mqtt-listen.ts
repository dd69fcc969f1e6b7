// The MQTT listener (`-M, --listen-mqtt`) on node:net, TLS on node:tls with the same certificate files as the other
// transports (mutual TLS with a CA: the certificate names the device). Every socket is counted from its accept like
// a CongSocket one (the connection caps, the opening budget, --workers' host ledger), must finish its TLS
// handshake within `handshakeTimeout` and send its first bytes within `openingTimeout`; the MQTT engine then owns
// it (CONNECT within its own deadline, keepalive, every protocol rule).
import type net from 'node:net';
import tls from 'node:tls';
import type { Stats } from '../metrics/stats.js';
import type { MqttConnection, MqttTransport } from '../mqtt/connection.js';
import { certificateDeviceId } from '../guard/identity.js';
import type { Doorkeeper, PeerInfo } from './link.js';
import type { ListenOptions } from './listen-options.js';
import { tlsServerOptions } from './tls-options.js';
import { listenNet } from './listen-host.js';
import { AcceptedSockets, type AcceptedSocket, type OpeningTarget } from './opening.js';
import { admitSocket, closeStreamServer, streamServer } from './stream-listener.js';

/** What the listener hands sockets to (the MQTT hub). */
export interface MqttAcceptor {
  accept(transport: MqttTransport): MqttConnection;
}

/** What the door books an MQTT socket as (its client address), from its admission until it closes. */
export interface MqttDoor extends Doorkeeper {
  ipOf(peer: PeerInfo): string;
  entered(session: { readonly ip: string }, counted: boolean | undefined): void;
  left(session: { readonly ip: string }): void;
}

export interface MqttListener {
  readonly port: number;
  close(): Promise<void>;
}

/** Ties one byte stream (a TCP/TLS socket, a WebSocket) to the engine; the socket's owner feeds it. */
export function mqttTransport(write: (bytes: Buffer) => void, end: () => void, backlog: () => number, remoteAddress: string, secure: boolean, certificateNames?: readonly string[]): MqttTransport {
  return { write, close: end, backlog, remoteAddress, tls: secure, ...(certificateNames ? { certificateNames } : {}) };
}

/**
 * Bytes above which one socket's packets of a turn go out as a writev rather than copied into one buffer: below it
 * the copy comes from node's Buffer pool (allocations under 4 KiB) and costs less than a writev.
 */
const COPY_LIMIT = 4095;

/**
 * Writes of one event-loop turn go out together: each socket's packets of the turn wait on its transport and are
 * written once when the turn ends (one write per socket per turn instead of one per packet, as CongSocket's flush
 * queue); a lone packet goes as it is, a few small ones as one buffer, without the stream's cork machinery.
 */
class TurnWrites {
  private waiting: SocketTransport[] = [];

  add(transport: SocketTransport): void {
    if (this.waiting.push(transport) === 1) setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    const waiting = this.waiting;
    this.waiting = [];
    for (const transport of waiting) transport.flush();
  };
}

const kTransport = Symbol('iosig.mqtt');
type MqttSocket = net.Socket & { [kTransport]?: SocketTransport };

/**
 * One accepted socket as the engine's transport, its opening's target and its booking at the door. Its socket
 * listeners are shared functions that find it on the socket: an idle connection holds no closures of its own.
 */
class SocketTransport implements MqttTransport, OpeningTarget {
  conn: MqttConnection | null = null;
  readonly certificateNames?: readonly string[];
  /** This turn's packets, not yet written (TurnWrites). */
  private pending: Buffer | Buffer[] | null = null;
  private pendingBytes = 0;

  constructor(
    private readonly socket: MqttSocket,
    private readonly writes: TurnWrites,
    private readonly door: MqttDoor,
    private opening: AcceptedSocket | null,
    readonly ip: string,
    readonly tls: boolean,
    certificateNames: readonly string[] | undefined,
  ) {
    if (certificateNames) this.certificateNames = certificateNames;
    socket[kTransport] = this;
  }

  get remoteAddress(): string {
    return this.ip;
  }

  write(bytes: Buffer): void {
    const pending = this.pending;
    this.pendingBytes += bytes.length;
    if (pending === null) {
      this.pending = bytes;
      this.writes.add(this);
    } else if (Array.isArray(pending)) pending.push(bytes);
    else this.pending = [pending, bytes];
  }

  /** Writes this turn's packets. */
  flush(): void {
    const pending = this.pending;
    const size = this.pendingBytes;
    this.pending = null;
    this.pendingBytes = 0;
    const socket = this.socket;
    if (pending === null || socket.destroyed) return;
    if (!Array.isArray(pending)) socket.write(pending);
    else if (size <= COPY_LIMIT) socket.write(Buffer.concat(pending, size));
    else {
      socket.cork();
      for (const bytes of pending) socket.write(bytes);
      socket.uncork();
    }
  }

  /** Ends the socket after what is written so far. */
  close(): void {
    this.flush();
    this.socket.end();
  }

  backlog(): number {
    return this.socket.writableLength + this.pendingBytes;
  }

  expireOpening(): void {
    this.socket.destroy();
  }

  data(chunk: Buffer): void {
    if (this.opening !== null) {
      this.opening.opened();
      this.opening = null;
    }
    this.conn?.feed(chunk);
  }

  closed(): void {
    this.door.left(this);
    this.conn?.transportClosed();
  }
}

function onData(this: MqttSocket, chunk: Buffer): void {
  this[kTransport]?.data(chunk);
}

function onClose(this: MqttSocket): void {
  this[kTransport]?.closed();
}

function ignoreError(): void {
  /* reset by peer and the like: 'close' follows */
}

export function listenMqtt(options: ListenOptions & { readonly mqttPort?: number | undefined }, stats: Stats, hub: MqttAcceptor, door: MqttDoor): Promise<MqttListener> {
  const secure = tlsServerOptions(options);
  const sockets = new AcceptedSockets(door.admitSocket, options.openingTimeout, stats, options.log, 'MQTT bytes', secure !== null);
  const writes = new TurnWrites();

  const onSocket = (socket: net.Socket, accepted: AcceptedSocket): void => {
    const peer: PeerInfo = { peerIp: socket.remoteAddress ?? '', tls: secure !== null, counted: true, listener: 'mqtt' };
    admitSocket(door, socket, peer, () => takeOn(socket, accepted, peer));
  };

  const takeOn = (socket: net.Socket, accepted: AcceptedSocket, peer: PeerInfo): void => {
    socket.setNoDelay(true);
    stats.acceptedMqtt++;
    const certId = secure !== null && socket instanceof tls.TLSSocket && socket.authorized ? certificateDeviceId(socket.getPeerCertificate()) : null;
    const transport = new SocketTransport(socket, writes, door, accepted, door.ipOf(peer), secure !== null, certId !== null ? [certId] : undefined);
    door.entered(transport, true);
    transport.conn = hub.accept(transport);
    accepted.awaitFirst(transport);
    socket.on('data', onData);
    socket.on('error', ignoreError);
    socket.on('close', onClose);
  };

  const server = streamServer(secure, sockets, stats, 'MQTT', options.log, onSocket);
  const close = (): Promise<void> => closeStreamServer(server, sockets);
  return listenNet(server, options.mqttPort ?? 0, options.host, 'MQTT', options.log).then((port) => ({ port, close }));
}
