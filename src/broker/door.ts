// The broker's door: every socket a transport takes on is counted here against the connection caps (this
// process's, and under --workers the host's, kept by the primary) and the budgets of sockets still opening; a
// refusal is counted and logged (one line a second at most during a flood). Its three calls are bound: the
// transports hold them as plain functions. The rules are guard/'s (Admission,
// ProxyTrust, HostPlaces); what they cost and say is the broker's.
import type { Clock } from '../clock.js';
import type { Stats } from '../metrics/stats.js';
import { Admission, type Evictable, type HostPlaces, type HostRefusal, type OpeningSlot, type RefusalReason } from '../guard/admission.js';
import { clientAddress, normalizeIp, type ProxyTrust } from '../guard/address.js';
import type { Doorkeeper, PeerInfo } from '../transport/link.js';
import { ConnectionRateLimiter, type ConnectionRates } from '../guard/rate-limits.js';

/** The caps the door applies, and where it logs. */
export interface DoorOptions {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly maxHandshakes: number;
  readonly maxHandshakesPerAddress: number;
  readonly log: (line: string) => void;
}

/** A session as the door books it: by its client address. */
interface Entered {
  readonly ip: string;
}

export class Door implements Doorkeeper {
  private readonly admission: Admission;
  /** Sessions whose place in the caps their transport holds since the accept (PeerInfo.counted). */
  private readonly countedByTransport = new WeakSet<Entered>();
  /** Refusals since the last line about them (one line a second at most during a flood). */
  private refusalsUnlogged = 0;
  private refusalLoggedAt = 0;
  /** Set when the server starts closing: nobody new comes in. */
  closing = false;
  /** The last peer address normalized, and what it gave: a burst from one address normalizes it once. */
  private lastPeerIp: string | null = null;
  private lastNormalIp = '';

  /** `--conn-rate`: new connections per second per listener; null when none is set. */
  private readonly rates: ConnectionRateLimiter | null;

  constructor(
    private readonly options: DoorOptions,
    private readonly proxyTrust: ProxyTrust,
    /** --workers: the primary's ledger of the host's places; null in one process. */
    private readonly host: HostPlaces | null,
    private readonly stats: Stats,
    private readonly clock: Clock,
    connectionRates: ConnectionRates = {},
  ) {
    this.admission = new Admission(options);
    // Evicted for a newcomer (the budget in all is full and this address holds the most): refused its place late.
    this.admission.onEvicted = (ip) => this.refuse('handshakes', ip);
    this.rates = Object.keys(connectionRates).length > 0 ? new ConnectionRateLimiter(connectionRates, clock.now()) : null;
  }

  /** Sockets still opening (a gauge). */
  get openingCount(): number {
    return this.admission.openingCount;
  }

  /** X-Forwarded-* headers count only from a trusted proxy: without one, transports need not read them. */
  get readsForwarded(): boolean {
    return this.proxyTrust.any;
  }

  /** The client address of a peer: the peer itself, or what trusted proxies say. */
  ipOf(peer: PeerInfo): string {
    if (peer.forwardedFor) return clientAddress(peer.peerIp, peer.forwardedFor, this.proxyTrust);
    if (peer.peerIp !== this.lastPeerIp) {
      this.lastPeerIp = peer.peerIp;
      this.lastNormalIp = normalizeIp(peer.peerIp);
    }
    return this.lastNormalIp;
  }

  /** TLS to the server, or https to a trusted proxy in front of it. */
  tlsOf(peer: PeerInfo): boolean {
    return peer.tls === true || (peer.forwardedProto === 'https' && this.proxyTrust.trusts(normalizeIp(peer.peerIp)));
  }

  /**
   * Connection caps (global and per client address), asked by the transports before a connection exists: this
   * process's own, unless the transport counts the socket since its accept (PeerInfo.counted, see admitSocket).
   * Under --workers the primary's host-wide ledger is asked too, once this process's own caps pass; a place it
   * grants is given back when the connection ends (left) or never comes to be (unused).
   */
  readonly admit = (peer: PeerInfo): boolean | Promise<boolean> => {
    if (this.closing) return false;
    const ip = this.ipOf(peer);
    if (this.rates && peer.listener && !this.rates.admit(peer.listener, this.clock.now())) {
      this.refuse(`rate_${peer.listener}`, ip);
      return false;
    }
    if (!peer.counted) {
      const refusal = this.admission.check(ip);
      if (refusal !== null) {
        this.refuse(refusal, ip);
        return false;
      }
    }
    const host = this.host;
    if (!host) return true;
    return host.take(ip).then((refusal) => {
      if (refusal === null && !this.closing) return true;
      if (refusal === null) host.give(ip);
      else this.refuse(refusal, ip, true);
      return false;
    });
  };

  /**
   * This process's caps and the budgets of sockets still opening, asked at TCP accept by the transports that see
   * the socket then (CongSocket, the mutual-TLS front): the socket counts from now until it closes. The host's
   * place (--workers) is taken later, by `admit`, once the socket is about to become a connection.
   */
  readonly admitSocket = (peerIp: string, socket: Evictable): OpeningSlot | null => {
    if (this.closing) return null;
    const ip = clientAddress(peerIp, undefined, this.proxyTrust);
    const refusal = this.admission.checkSocket(ip);
    if (refusal !== null) {
      this.refuse(refusal, ip);
      return null;
    }
    return this.admission.enter(ip, socket);
  };

  readonly unused = (peer: PeerInfo): void => {
    this.host?.give(this.ipOf(peer));
  };

  /** A session was taken on; its transport may hold its place already (`counted`). */
  entered(session: Entered, counted: boolean | undefined): void {
    if (counted) this.countedByTransport.add(session);
    else this.admission.opened(session.ip);
  }

  /** A session ended: its places go back. */
  left(session: Entered): void {
    // A transport that counted the socket since its accept gives that place back when the socket closes.
    if (!this.countedByTransport.delete(session)) this.admission.closed(session.ip);
    // --workers: the host's place, taken by admit for every connection a transport takes on, counted or not
    // (the primary ignores a give from a worker that holds none for this address).
    this.host?.give(session.ip);
  }

  /** Counts a refusal; one log line a second at most during a flood. `host`: the primary's ledger refused. */
  private refuse(refusal: RefusalReason | HostRefusal | `rate_${'ws' | 'cong' | 'mqtt'}`, ip: string, host = false): void {
    const { options, stats } = this;
    let why: string;
    if (refusal === 'rate_ws' || refusal === 'rate_cong' || refusal === 'rate_mqtt') {
      if (refusal === 'rate_ws') stats.refusedRateWs++;
      else if (refusal === 'rate_cong') stats.refusedRateCong++;
      else stats.refusedRateMqtt++;
      why = `over the new-connection rate of the ${refusal.slice(5)} listener (--conn-rate)`;
    } else if (refusal === 'primary_unavailable') {
      stats.refusedPrimaryUnavailable++;
      why = 'the primary process did not answer in time (--workers)';
    } else if (refusal === 'global') {
      stats.refusedGlobal++;
      why = host ? `over the host's connection cap (--workers)` : `over the ${options.maxConnections}-connection cap`;
    } else if (refusal === 'address') {
      stats.refusedAddress++;
      why = host ? `over the host's connection cap per address (--workers)` : `over the ${options.maxConnectionsPerAddress}-connection cap per address`;
    } else if (refusal === 'handshakes') {
      stats.refusedHandshakes++;
      why = `over the cap of ${options.maxHandshakes} sockets still opening`;
    } else {
      stats.refusedHandshakesAddress++;
      why = `over the cap of ${options.maxHandshakesPerAddress} sockets still opening per address`;
    }
    this.refusalsUnlogged++;
    const now = this.clock.now();
    if (now - this.refusalLoggedAt < 1000) return;
    this.options.log(`refused ${this.refusalsUnlogged} connection(s) in the last second; latest from ${ip}: ${why}`);
    this.refusalsUnlogged = 0;
    this.refusalLoggedAt = now;
  }
}
