// A session's way out (docs/protocol.md §4.7): the encryption rule, the Boho session its login handed over, the order of
// messages around a large one sealed or opened in the seal pool, what it sent, and its link. Delivery groups hold
// it as their Receiver, so a delivery goes from a group through here to the link and never back into the
// session's state machine (connection.ts); the session's own replies go out the same way.
import type { SlowConsumerPolicy } from '../policies.js';
import { MSG } from '../protocol/codes.js';
import type { BohoSession } from '../crypto/boho.js';
import { SealPoolFullError } from '../crypto/seal-pool.js';
import { SESSION_HEADER_SIZE } from '../crypto/frames.js';
import type { Outbound } from '../delivery/outbound.js';
import type { BacklogLimits, Receiver, TopicSocket } from '../delivery/receiver.js';
import type { Link } from '../transport/link.js';
import type { SealPool } from '../crypto/seal-pool.js';
import type { Stats } from '../metrics/stats.js';
import { InOrder } from './in-order.js';
import type { SlowConsumerWatch, Watched } from './slow-consumer.js';

/** What the channel runs on: the counters, the seal pool, and what bounds the wait behind a sealing. */
export interface ChannelHost {
  readonly stats: Stats;
  readonly sealPool: SealPool;
  readonly policy: { readonly sealWaitLimit: number };
  readonly watch: SlowConsumerWatch;
}

/** What the channel needs of its session. */
export interface ChannelOwner {
  readonly ssid: number;
  readonly ip: string;
  readonly authorized: boolean;
  readonly tls: boolean;
  readonly closed: boolean;
  /** Set once a close is under way (a slow consumer waiting for its turn to be closed takes nothing more). */
  closeReason: string;
  readonly port: ChannelHost;
  report(what: string): void;
  /** A message it could not use: counted, logged under `-s message`. */
  bad(what: string): void;
  close(reason: string): void;
  internalError(where: string, err: unknown): void;
  /** Dispatches a message that came out of an ENC_488 envelope. */
  dispatchInner(msg: Uint8Array): void;
  /** Runs connection code later: skipped once closed, an exception closes this session only. */
  contain(what: string, fn: () => void): void;
  /** Its delivery needs changed (drained, or over its limit): subscriptions move between groups. */
  deliveryChanged(): void;
}

const SLOW_CONSUMER = 'slow consumer: send buffer over the backpressure limit';

/**
 * The Boho session, and messages waiting behind a large one being sealed (outbox) or opened (inbox): made at a
 * Boho login or on the first sealing, so an idle anonymous connection holds one empty field for all of it.
 */
interface SealOrder {
  boho: BohoSession | null;
  outbox: InOrder | null;
  inbox: InOrder | null;
}

function newOrder(): SealOrder {
  return { boho: null, outbox: null, inbox: null };
}

export class SecureChannel implements Receiver, Watched {
  /** Made by a Boho login or the first message sealed or opened in the seal pool (idle connections stay small). */
  order: SealOrder | null = null;
  /** Messages and bytes written to the link by this channel (native publishes are counted by the router). */
  messagesOut = 0;
  bytesOut = 0;

  constructor(
    private readonly session: ChannelOwner,
    readonly link: Link,
  ) {}

  /** The Boho session of a login, handed over when it is admitted; null before one (never for bearer logins). */
  get boho(): BohoSession | null {
    return this.order?.boho ?? null;
  }

  set boho(session: BohoSession | null) {
    (this.order ??= newOrder()).boho = session;
  }

  /**
   * Encryption rule of §4.7: the server encrypts to authorised sessions that are not on TLS. A device known
   * by a bearer token has no Boho session key, so it is never encrypted to.
   */
  private encrypts(): boolean {
    return this.session.authorized && !this.session.tls && this.boho?.authorized === true;
  }

  /** Native topics, when this session receives the same bytes as everyone else and its link has them. */
  topicSocket(): TopicSocket | null {
    return this.encrypts() ? null : this.link.topics();
  }

  /** No room once a close is under way (a slow consumer waiting for its turn to be closed takes nothing more). */
  hasRoom(bytes: number): boolean {
    return !this.session.closeReason && this.link.hasRoom(bytes);
  }

  /** Never-encrypted messages (handshake, AUTH_*, QUOTA_LEVEL, PING/PONG, OVER_SIZE...). */
  sendPlain(msg: Uint8Array): void {
    const outbox = this.order?.outbox;
    if (outbox?.busy) {
      // Behind a message still being sealed: keep the order, and a copy (`msg` may be a transient view).
      const copy = Buffer.from(msg);
      if (!outbox.run(() => this.sendPlainNow(copy), copy.length)) this.sealFailed(null);
      return;
    }
    this.sendPlainNow(msg);
  }

  private sendPlainNow(msg: Uint8Array): void {
    const { stats } = this.session.port;
    if (!this.hasRoom(msg.length)) {
      // Not written (the link has told the slow-consumer watch why): a drop.
      stats.drops++;
      return;
    }
    if (!this.link.send(msg)) return;
    this.countOut(msg.length);
    stats.messagesOut++;
    stats.bytesOut += msg.length;
  }

  /** Messages that follow the encryption rule (CID_RES, IAM_RES, RESPONSE_MBP, SERVER_SIGNAL, ECHO...). */
  sendEligible(msg: Uint8Array): void {
    if (!this.encrypts()) return this.sendPlain(msg);
    if (this.session.port.sealPool.offloads(msg.length)) {
      this.sealLater(msg, (sealed) => this.sendPlainNow(sealed));
      return;
    }
    const sealed = this.boho!.encrypt488(msg);
    if (sealed) this.sendPlain(sealed);
  }

  /**
   * A delivery from a group, which has checked hasRoom and counts it globally; `out` may be shared with other
   * receivers. Returns the bytes written, or to be written in turn behind a sealing (0 when nothing will be).
   */
  deliver(out: Outbound): number {
    if (!this.encrypts()) {
      if (this.order?.outbox?.busy) return this.deliverLater(Buffer.from(out.msg));
      if (!this.link.sendShared(out)) return 0;
      this.countOut(out.msg.length);
      return out.msg.length;
    }
    const msg = out.msg;
    if (msg[0] !== MSG.SIGNAL_E2E && this.session.port.sealPool.offloads(msg.length)) {
      return this.sealLater(msg, (sealed) => this.writeDelivery(sealed));
    }
    const boho = this.boho!;
    // §4.6: for SIGNAL_E2E only the header is re-encrypted; the ENC_PACK travels untouched (cheap at any size).
    const sealed = msg[0] === MSG.SIGNAL_E2E ? boho.sealE2E(msg, 3 + msg[1]!) : boho.encrypt488(msg);
    if (!sealed) return 0;
    if (this.order?.outbox?.busy) return this.deliverLater(sealed);
    return this.writeDelivery(sealed);
  }

  private countOut(bytes: number): void {
    this.messagesOut++;
    this.bytesOut += bytes;
  }

  private writeDelivery(bytes: Uint8Array): number {
    if (!this.link.send(bytes)) return 0;
    this.countOut(bytes.length);
    return bytes.length;
  }

  /** A delivery queued behind a sealing: written in its turn. */
  private deliverLater(bytes: Buffer): number {
    if (this.order!.outbox!.run(() => this.writeDelivery(bytes), bytes.length)) return bytes.length;
    this.sealFailed(null);
    return 0;
  }

  /**
   * ENC_488 sealed in the seal pool, off the event loop, then passed to `write`; whatever is sent to this receiver
   * meanwhile waits behind it, so nothing overtakes (issue 9 item 5). Returns the bytes it will write (0: refused).
   */
  private sealLater(msg: Uint8Array, write: (sealed: Buffer) => unknown): number {
    const order = (this.order ??= newOrder());
    const outbox = (order.outbox ??= new InOrder(this.waitLimit(), (err) => this.session.internalError('while sending', err)));
    if (!outbox.accepts()) {
      this.sealFailed(null);
      return 0;
    }
    const job = this.boho!.sealJob(msg);
    if (!job) return 0;
    outbox.wait(this.session.port.sealPool.seal(job), write, (err) => this.sealFailed(err), msg.length);
    return SESSION_HEADER_SIZE + msg.length;
  }

  /**
   * An ENC_488 too large to open on the event loop: opened in the seal pool, then dispatched; what the session
   * receives meanwhile waits behind it (`order.inbox`, `afterOpening`).
   */
  openLater(msg: Uint8Array): void {
    const session = this.session;
    const job = this.boho?.openJob(msg);
    if (!job) return session.bad('encrypted message from a connection without a Boho session');
    const order = (this.order ??= newOrder());
    const inbox = (order.inbox ??= new InOrder(this.waitLimit(), (err) => session.internalError('while receiving', err)));
    if (!inbox.accepts()) return session.close('flooding while a large encrypted message is opened');
    const opened = (plain: Buffer | null): void => {
      if (session.closed) return;
      if (!plain || plain.length === 0) return session.bad('ENC_488 that does not decrypt');
      session.dispatchInner(plain);
    };
    inbox.wait(session.port.sealPool.open(job), opened, (err) => session.bad(`ENC_488 not opened: ${String(err)}`), msg.length);
  }

  /**
   * A message received while a large ENC_488 is being opened waits its turn (a copy: `msg` may be a transient
   * view); keepalive passes. A session that floods meanwhile is closed.
   */
  afterOpening(msg: Uint8Array, receive: (msg: Uint8Array) => void): void {
    if (msg[0] === MSG.PING) return this.link.answerPing();
    if (msg[0] === MSG.PONG) return;
    const copy = Buffer.from(msg);
    if (!this.order!.inbox!.run(() => receive(copy), copy.length)) this.session.close('flooding while a large encrypted message is opened');
  }

  /**
   * Bytes that may wait behind a message being sealed or opened (then the bound is this + one message). The wait
   * is the broker's doing, not the peer's, so it is not judged as a slow consumer: what exceeds it is dropped.
   */
  private waitLimit(): number {
    return this.session.port.policy.sealWaitLimit;
  }

  /** An encrypted delivery that could not be sealed (too much waiting, pool full or failing): dropped and counted. */
  private sealFailed(err: unknown): void {
    this.session.port.stats.drops++;
    // Overload is counted, not logged per message; anything else is worth a line.
    if (err !== null && !(err instanceof SealPoolFullError)) this.session.report(`encrypted delivery dropped: ${String(err)}`);
  }

  // ---- slow consumers (the watch is broker/slow-consumers.ts) ------------------------------------

  get closed(): boolean {
    return this.session.closed;
  }

  backlog(): number {
    return this.link.buffered();
  }

  get backlogLimits(): BacklogLimits {
    return this.link.limits;
  }

  /**
   * The slow-consumer policy applies (its verdict comes from the watch): under 'close' the session takes nothing
   * more and is closed in its turn (a few per event-loop turn, so many at once stall nothing); under 'drop' it
   * leaves the shared native path and takes nothing until its link drains. Deferred: this runs inside fan-out
   * loops over the very sets it changes. False when it was already being handled.
   */
  overLimit(policy: SlowConsumerPolicy): boolean {
    const { session, link } = this;
    if (session.closed || session.closeReason) return false;
    if (policy === 'close') {
      session.closeReason = SLOW_CONSUMER;
      link.saturate();
      session.port.stats.slowConsumerCloses++;
      session.port.watch.closeSoon(`#${session.ssid} ${link.transport} ${session.ip} dropped: ${SLOW_CONSUMER}`, () =>
        session.contain('a slow-consumer close', () => link.destroy(SLOW_CONSUMER)),
      );
      return true;
    }
    if (!link.saturate()) return false;
    queueMicrotask(() => session.deliveryChanged());
    return true;
  }

  /** The session is gone: whatever waits is forgotten (outstanding seal-pool work is ignored when it ends). */
  clear(): void {
    this.order?.outbox?.clear();
    this.order?.inbox?.clear();
  }
}
