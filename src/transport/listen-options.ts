// What the listeners read of the server's options (ServerOptions has all of it): where to bind, how large a
// message may be, how much a receiver may leave unread, TLS and the opening deadlines. Kept here so that the
// transports never import the server's options.
import type { TlsFiles } from '../policies.js';
import type { BacklogLimits } from '../delivery/receiver.js';

export interface ListenOptions {
  /** WebSocket port; 0 picks a free port; undefined = no WebSocket listener. */
  readonly port?: number | undefined;
  /** CongSocket port; 0 picks a free port; undefined = no CongSocket listener. */
  readonly congPort?: number | undefined;
  readonly host: string;
  readonly maxMessageSize: number;
  /** What the bodies of large CongSocket frames still arriving may hold together (a quarter per client address). */
  readonly maxInboundTotal: number;
  /** The soft limit of a receiver's backlog (see backlogLimits). */
  readonly maxBackpressure: number;
  /** The hard cap of a receiver's backlog. */
  readonly maxBacklog: number;
  readonly tls: TlsFiles | null;
  /** A TLS handshake must finish within this many ms of the accept. */
  readonly handshakeTimeout: number;
  /** The first CongSocket frame, or the request head through the mutual-TLS front, within this many ms. */
  readonly openingTimeout: number;
  readonly log: (line: string) => void;
}

/**
 * What a WebSocket may hold in uWS's own send buffer under a `maxBackpressure` limit: half of it. uWS copies
 * every message into each socket's buffer, whose allocation can reach about twice what it holds; CongSocket
 * receivers share one frame per publish. Halving keeps a WebSocket receiver's memory within limit + one
 * message, like a CongSocket receiver's (bench/RESULTS.md, memory bound). Never 0: uWS reads 0 as "no limit".
 */
export function webSocketBufferLimit(maxBackpressure: number): number {
  return Math.max(1, Math.floor(maxBackpressure / 2));
}

/** The soft limit and the hard cap a link of `transport` judges its backlog against. */
export function backlogLimits(options: Pick<ListenOptions, 'maxBackpressure' | 'maxBacklog'>, transport: 'ws' | 'cong'): BacklogLimits {
  if (transport === 'cong') return { soft: options.maxBackpressure, hard: options.maxBacklog };
  return { soft: webSocketBufferLimit(options.maxBackpressure), hard: webSocketBufferLimit(options.maxBacklog) };
}
