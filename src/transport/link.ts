// What the connection state machine needs from a transport. A link knows sockets, not tags.
import type { Outbound } from '../delivery/outbound.js';
import type { BacklogLimits, TopicSocket } from '../delivery/receiver.js';
import type { PresentedIdentity } from '../guard/identity.js';
import type { Evictable, OpeningSlot } from '../guard/admission.js';
import type { TransportKind } from '../info.js';

export type { TransportKind };

/** What a transport knows about a new peer. */
export interface PeerInfo {
  peerIp: string;
  forwardedFor?: string;
  forwardedProto?: string;
  /** The transport itself is TLS (wss / TLS CongSocket). */
  tls?: boolean;
  /** A verified client certificate or a bearer token: the device is known before it says anything. */
  identity?: PresentedIdentity;
  /**
   * The device id a verified client certificate names, also when a token presented with it is the identity (the
   * token names the device; the certificate stays a subject the access rules' `cert:` match).
   */
  certificate?: string;
  /** Which listener took it on (for `--conn-rate`); absent for in-memory links. */
  listener?: 'ws' | 'cong' | 'mqtt';
  /** The transport holds this socket's place in the connection caps since its accept (OpeningSlot): not counted again. */
  counted?: boolean;
  /** The device kind its client declared at the WebSocket upgrade (`X-Iosig-Device: serial`, an io-serial bridge). */
  device?: 'serial';
}

/**
 * How a connection ends: 'graceful' (close frame / FIN after pending writes), 'abort' (at once, logged as
 * dropped), 'attack' (at once, logged to the attack log too), 'shutdown' (at once, server closing, not logged),
 * 'refused' (graceful, not logged again: a refused login whose reason the auth log has, throttled there),
 * 'silent' (at once, not logged per connection: the caller writes a throttled summary, e.g. opening deadlines).
 */
export type CloseHow = 'graceful' | 'abort' | 'attack' | 'shutdown' | 'refused' | 'silent';

/**
 * The messages one frame of a plain device stands for: the same payload to each of its targets. `message(i)` may
 * reuse one buffer (valid until the next call); `size(i)` is known before it is written.
 */
export interface FrameMessages {
  readonly count: number;
  size(i: number): number;
  message(i: number): Uint8Array;
}

/** What a link reports to (the connection): whole messages in, pressure, and its end — exactly once. */
export interface LinkOwner {
  readonly cid: string;
  /** Set by any traffic from the peer (data, ping, pong); cleared by the keepalive sweep. */
  alive: boolean;
  /** A sign of life without a message (a WebSocket ping or pong frame). */
  heard(): void;
  /** One whole protocol message; the view is valid only during the call. */
  receive(msg: Uint8Array): void;
  /** A WebSocket text frame (not a protocol message). */
  receiveText(text: string, bytes: number): void;
  /** A plain device's frame: its messages, judged by the quotas as one (contained like `receive`). */
  receiveFrame(frame: FrameMessages): void;
  /** The link is gone (peer closed, error, or after our own close); called once. */
  linkClosed(): void;
  /** Its backlog passed the soft limit (it is behind: the slow-consumer watch times it). Repeats are cheap. */
  fellBehind(): void;
  /** Its backlog passed the hard cap: the slow-consumer policy applies at once. */
  overCap(): void;
  /** The link can take shared bytes again (drained) or no longer can. */
  deliveryChanged(): void;
  close(reason: string, how?: CloseHow, bytes?: Uint8Array): void;
  report(what: string): void;
  /** An exception in connection code the link ran: counted, logged, and this connection closed (never the server). */
  internalError(where: string, err: unknown): void;
}

/** Creates the connection for a new link; the server supplies it. */
export type AcceptLink = (link: Link, peer: PeerInfo) => LinkOwner;
/**
 * Asked at TCP accept by transports that see the socket then: its place in the caps, or null = close it at once.
 * `socket` is destroyed should a newcomer take its place while it is still opening (guard/opening-budget.ts).
 */
export type AdmitSocket = (peerIp: string, socket: Evictable) => OpeningSlot | null;

/**
 * The connection caps, asked by a transport before it takes a connection on. One process answers at once; under
 * `io-server --workers` the primary keeps the host's budget, and `admit` answers with a Promise (never rejected).
 */
export interface Doorkeeper {
  /**
   * At TCP accept, by the transports that see the socket then (CongSocket, the mutual-TLS front): this process's
   * caps and opening budgets, answered at once. The socket holds the slot until it closes.
   */
  admitSocket: AdmitSocket;
  /**
   * Before the connection is taken on: this process's caps (skipped for a peer its transport counts since the
   * accept, PeerInfo.counted), then under --workers the host's. false = refuse the peer at once; a Promise only
   * under --workers, and then only once this process's caps pass.
   */
  admit(peer: PeerInfo): boolean | Promise<boolean>;
  /** A place `admit` granted through a Promise, whose socket went away before it became a connection. */
  unused(peer: PeerInfo): void;
  /** Some proxy is trusted, so the X-Forwarded-* headers of a request count (else they need not be read). */
  readonly readsForwarded: boolean;
}

export interface Link {
  readonly transport: TransportKind;
  /** Set when the link translates for a device that does not speak iosignal (the plain endpoint). */
  readonly kind?: 'plain';
  /** Sends one protocol message; false when it was not written (closed link). */
  send(msg: Uint8Array): boolean;
  /** Sends a message that other receivers get too (CongSocket links reuse its one frame). */
  sendShared(out: Outbound): boolean;
  /** Bytes written to this link that the peer has not taken yet (user-space backlog: what memory bounds count). */
  buffered(): number;
  /** The soft limit and the hard cap its backlog is judged against. */
  readonly limits: BacklogLimits;
  /**
   * True when `bytes` more may be queued (cheap: called per delivery): within the hard cap and not saturated.
   * Past the soft limit it tells its owner it is behind; past the hard cap, that it is over (and answers false).
   */
  hasRoom(bytes: number): boolean;
  /**
   * Marks the link full (the slow-consumer policy applies to it): it leaves native topics and has no room until it
   * drains below half the soft limit, then tells its connection (deliveryChanged). False when it already was.
   */
  saturate(): boolean;
  /** Native pub/sub on this link when it can take shared bytes now (uWS WebSocket, not over its limit); else null. */
  topics(): TopicSocket | null;
  /** Keepalive probe: a WebSocket ping frame, or a PING message on CongSocket. */
  probe(): void;
  /** Answer to a PING message: a WebSocket pong frame, or a PONG message on CongSocket. */
  answerPing(): void;
  /** Graceful close (WebSocket close frame / TCP FIN after pending writes). */
  close(reason: string): void;
  /** Immediate teardown. */
  destroy(reason: string): void;
  /**
   * The access rules refused something this link's device asked (a subscription, a publish) or ended one of its
   * subscriptions. Links whose protocol has an answer for it implement this (a plain JSON device gets an ERROR
   * frame); iosignal links answer through their protocol instead.
   */
  accessDenied?(what: string): void;
}
