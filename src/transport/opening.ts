// Sockets between their accept and the end of their opening (issue 16 item 4): a TLS handshake (node:tls closes
// it at `handshakeTimeout`, see endFailedHandshakes), then the first CongSocket message or the upgrade request
// through the mutual-TLS front (`openingTimeout`). Each socket holds its place in the caps from its accept
// (Admission.enter) until it closes; one that misses its deadline is closed, counted, and logged once a second
// at most, so a flood of silent sockets can neither keep descriptors nor fill the log.
//
// Every accepted socket pays for this, so it is kept small: one record per socket (no closures, no timer, no
// string key), found again through a symbol on the socket by one shared 'close' listener. The deadlines of one
// listener are all `openingTimeout` after their start, so they fall due in the order they were set: they wait in
// one queue, behind one timer armed for the first of them.
import net from 'node:net';
import type tls from 'node:tls';
import type { OpeningSlot } from '../guard/admission.js';
import type { Stats } from '../metrics/stats.js';
import { ThrottledLog } from '../logging/throttled-log.js';
import type { AdmitSocket } from './link.js';

const ignore = (): void => undefined;

/** What ends a socket whose opening missed its deadline (its connection, the TLS front's pipe). */
export interface OpeningTarget {
  expireOpening(): void;
}

const kAccepted = Symbol('iosig.accepted');
type TaggedSocket = net.Socket & { [kAccepted]?: AcceptedSocket };

/** The one 'close' listener of every accepted socket (shared: no closure per socket). */
function onAcceptedClose(this: TaggedSocket): void {
  this[kAccepted]?.gone();
}

/** Where a record is: waiting for its opening to start, timed, done (a connection), or closed. */
const UNPLACED = 0;
const TIMED = 1;
const DONE = 2;
const GONE = 3;

/** A doubly linked list threaded through the records, so a record leaves it in O(1) without a Set entry. */
class RecordList {
  head: AcceptedSocket | null = null;
  tail: AcceptedSocket | null = null;

  push(rec: AcceptedSocket): void {
    rec.prev = this.tail;
    rec.next = null;
    if (this.tail) this.tail.next = rec;
    else this.head = rec;
    this.tail = rec;
  }

  remove(rec: AcceptedSocket): void {
    if (rec.prev) rec.prev.next = rec.next;
    else this.head = rec.next;
    if (rec.next) rec.next.prev = rec.prev;
    else this.tail = rec.prev;
    rec.prev = rec.next = null;
  }
}

/** One accepted socket: its place in the caps until it closes, and its opening deadline while one runs. */
export class AcceptedSocket {
  /** When the opening must be done (ms on the monotonic clock); set by awaitFirst. */
  deadline = 0;
  prev: AcceptedSocket | null = null;
  next: AcceptedSocket | null = null;
  private target: OpeningTarget | null = null;
  private stage = UNPLACED;

  constructor(
    private readonly owner: AcceptedSockets,
    readonly socket: net.Socket,
    readonly slot: OpeningSlot,
  ) {}

  /**
   * Starts the opening's last deadline: unless `opened()` is called within openingTimeout, `target` ends the
   * socket.
   */
  awaitFirst(target: OpeningTarget): void {
    if (this.stage !== UNPLACED) return;
    this.owner.unplaced.remove(this);
    this.target = target;
    this.stage = TIMED;
    this.owner.time(this);
  }

  /** The opening is done (its first message came): no deadline any more, and it no longer counts as opening. */
  opened(): void {
    if (this.stage === TIMED) this.owner.untime(this);
    else if (this.stage === UNPLACED) this.owner.unplaced.remove(this);
    else return;
    this.stage = DONE;
    this.target = null;
    this.slot.opened();
  }

  /** Its deadline passed before its opening was done. */
  expire(): void {
    const target = this.target;
    this.stage = DONE;
    this.target = null;
    if (target !== null && !this.socket.destroyed) this.owner.expired(this.socket, target);
  }

  /** The socket closed: its place goes back. */
  gone(): void {
    const stage = this.stage;
    if (stage === GONE) return;
    if (stage === TIMED) this.owner.untime(this);
    else if (stage === UNPLACED) this.owner.unplaced.remove(this);
    this.stage = GONE;
    this.target = null;
    this.owner.forget(this);
    this.slot.release();
  }
}

/** The accepted sockets of one listener, each with its place in the caps until it closes. */
export class AcceptedSockets {
  /** Taken on, opening not started yet (a TLS handshake, the host's answer under --workers). */
  readonly unplaced = new RecordList();
  /** Opening deadlines, earliest first. */
  private readonly timed = new RecordList();
  private timer: NodeJS.Timeout | null = null;
  /** TLS listeners: by TCP 4-tuple (peerKey), so a TLS socket is found again through the TCP socket it wraps. */
  private readonly byPeer: Map<string, AcceptedSocket> | null;
  private readonly timeoutLog: ThrottledLog;

  constructor(
    private readonly admit: AdmitSocket,
    private readonly openingTimeout: number,
    private readonly stats: Stats,
    log: (line: string) => void,
    /** What the opening waits for, for the log ('frame', 'request head'). */
    private readonly what: string,
    /** Sockets reach their opening wrapped in TLS (placeOf). */
    tls = false,
  ) {
    this.timeoutLog = new ThrottledLog(log);
    this.byPeer = tls ? new Map() : null;
  }

  /** At accept: the socket's record (its place in the caps, given back when it closes), or null after closing it. */
  take(socket: net.Socket): AcceptedSocket | null {
    const slot = this.admit(socket.remoteAddress ?? '', socket);
    if (slot === null) {
      socket.on('error', ignore);
      socket.destroy();
      return null;
    }
    const rec = new AcceptedSocket(this, socket, slot);
    this.unplaced.push(rec);
    this.byPeer?.set(peerKey(socket), rec);
    (socket as TaggedSocket)[kAccepted] = rec;
    socket.on('close', onAcceptedClose);
    return rec;
  }

  /** The record of the accepted socket that `socket` (a TLS socket over it, same peer) came through. */
  placeOf(socket: net.Socket): AcceptedSocket | null {
    return this.byPeer?.get(peerKey(socket)) ?? null;
  }

  /** Ends every socket whose opening is not done (the listener is closing; connections are their owner's). */
  destroyAll(): void {
    for (const list of [this.unplaced, this.timed]) {
      const sockets: net.Socket[] = [];
      for (let rec = list.head; rec !== null; rec = rec.next) sockets.push(rec.socket);
      for (const socket of sockets) socket.destroy();
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  time(rec: AcceptedSocket): void {
    rec.deadline = Math.ceil(performance.now()) + this.openingTimeout;
    this.timed.push(rec);
    if (this.timer === null) this.arm(this.openingTimeout);
  }

  untime(rec: AcceptedSocket): void {
    this.timed.remove(rec);
    // The timer stays armed for a deadline that is gone; the sweep finds nothing due and re-arms (or stops).
  }

  forget(rec: AcceptedSocket): void {
    if (this.byPeer !== null && this.byPeer.get(peerKey(rec.socket)) === rec) this.byPeer.delete(peerKey(rec.socket));
  }

  expired(socket: net.Socket, target: OpeningTarget): void {
    this.stats.openingTimeouts++;
    this.timeoutLog.write(`closed a socket from ${socket.remoteAddress ?? '?'} that sent no ${this.what} within ${this.openingTimeout} ms`);
    target.expireOpening();
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.sweep, Math.max(1, ms));
    this.timer.unref();
  }

  private readonly sweep = (): void => {
    this.timer = null;
    const now = performance.now();
    let rec = this.timed.head;
    while (rec !== null && rec.deadline <= now) {
      this.timed.remove(rec);
      rec.expire();
      rec = this.timed.head;
    }
    if (rec !== null) this.arm(rec.deadline - now);
  };
}

/**
 * The socket's whole TCP 4-tuple, the same for a TLS socket and the TCP socket under it. The peer alone is not
 * unique: one client address and port may connect to two addresses of the server (both loopback addresses, a public
 * and a private one), and the second entry would hide the first.
 */
function peerKey(socket: net.Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}|${socket.localAddress ?? ''}|${socket.localPort ?? ''}`;
}

/**
 * The TCP listener of a TLS port: each socket is taken on (or refused) as it is accepted, and only one that is
 * taken on goes to `tlsServer` for its handshake (a tls.Server takes injected sockets through its 'connection'
 * event), so a flood of refused sockets costs an accept and a close each, never TLS state.
 */
export function tlsBehindAccept(sockets: AcceptedSockets, tlsServer: tls.Server): net.Server {
  return net.createServer({ noDelay: true }, (raw) => {
    if (sockets.take(raw) !== null) tlsServer.emit('connection', raw);
  });
}
