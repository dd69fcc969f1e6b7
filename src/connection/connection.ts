// One client session (docs/protocol.md §3, §4): its identity and state, how it receives (quotas, the login hold, then
// the dispatch table in handlers/), and its one close path. Message handling lives in handlers/, the login in
// login-flow.ts, quotas in quota-check.ts; the way out (the encryption rule of §4.7, the Boho session, sending and
// delivering) is its secure channel (secure-channel.ts).
import { QUOTA_TABLE, STATE, type Quota } from '../protocol/codes.js';
import { SERVER_READY_MSG, encodeAuthClear, encodeServerTimeNonceOf } from '../protocol/messages.js';
import type { Receiver } from '../delivery/receiver.js';
import { shareOwnerOf, type ShareOwner } from '../router/cap-shares.js';
import { throttleKey } from '../guard/login-guard.js';
import { homePrefix } from '../guard/address.js';
import type { CloseHow, FrameMessages, Link, LinkOwner } from '../transport/link.js';
import { describeReceived, describeText } from './message-log.js';
import { LoginFlow } from './login-flow.js';
import { QuotaCheck, frameSizes } from './quota-check.js';
import type { Session } from './session.js';
import type { SessionPeer, SessionPort } from './port.js';
import type { TagMemo } from './tag-memo.js';
import { dispatch } from './handlers/index.js';
import { closeOnError, runContained } from './contain.js';
import { SecureChannel } from './secure-channel.js';
import { SessionState } from './session-state.js';
import { randomUint } from '../crypto/random-pool.js';
import type { Timer } from '../clock.js';
import type { AccessSubject } from '../access/engine.js';
import type { PublishMemo } from '../broker/access.js';
import type { Grants } from '../access/grants.js';
import type { ExternalIdentity } from '../auth/external-identity.js';

const PROCESS_EPOCH = Date.now();

/**
 * Milliseconds since PROCESS_EPOCH as a small integer: V8 keeps it inline (a Smi), where a double would cost a
 * boxed number per connection. (After 12 days of uptime it becomes a double, which is only bigger.)
 */
function msSinceEpoch(): number {
  const ms = Date.now() - PROCESS_EPOCH;
  return ms < 0x3fffffff ? ms | 0 : ms;
}

/**
 * The last client address and its home prefix: the connections of a burst from one address (a NAT, a gateway,
 * a load generator) share one string of each, and the prefix is worked out once.
 */
let lastIp: string | null = null;
let lastHome = '';
/** The same for the owner key of an anonymous session's holdings in the cap shares. */
let lastOwnerIp: string | null = null;
let lastOwner = '';

/** What few sessions ever have, made on first use: idle connections carry one empty field for all of it. */
class RareState {
  /** Why the server closed it (for logs); empty when the peer went away. */
  closeReason = '';
  /** Made by the first message when a quota switch is on. */
  quotas: QuotaCheck | null = null;
  timers: Set<Timer> | null = null;
  /** Waiting for the next sign of life (a duplicate login's probe); rarely more than one. */
  heardWaiters: (() => void)[] | null = null;
}

export class Connection extends SessionState implements Session, LinkOwner {
  readonly ssid: number;
  /** Milliseconds since PROCESS_EPOCH: a small integer, stored inline rather than as a boxed double. */
  private readonly bornAt = msSinceEpoch();
  cid = '';
  nick = '';
  readonly ip: string;
  readonly home: string;
  level: number;
  quota: Quota;
  messagesIn = 0;
  bytesIn = 0;
  /** The way out: encryption, the Boho session, sends and deliveries, the link. */
  readonly channel: SecureChannel;
  /** The SERVER_TIME_NONCE sent first (every later AUTH_REQ's salt): 6 random bytes as two 24-bit integers, not a
   *  Buffer, to keep idle connections small (its time is `createdAt`). */
  private readonly helloLow: number;
  private readonly helloHigh: number;
  /** Made by the first login message (idle connections stay small). */
  private flow: LoginFlow | null = null;
  /** Made by the first SIGNAL (handlers/pubsub.ts). */
  tagMemo: TagMemo | null = null;
  /** Its address unit's owner key in the router's cap shares, made on first use. */
  private addressOwner: string | null = null;
  private rare: RareState | null = null;
  /** The device id its verified client certificate names (the access rules' `cert:`), logged in or not. */
  readonly certificate: string | null;
  /** Access control: its subject, made on its first check (broker/access.ts). */
  accessSubject: AccessSubject | null = null;
  /** The last tag the rules let it publish (broker/access.ts). */
  publishMemo: PublishMemo | null = null;
  /** Who an outside source (a JWT, the auth hook) says it is: its rights, superuser flag and end; null otherwise. */
  outside: ExternalIdentity | null = null;

  constructor(
    readonly port: SessionPort<Connection>,
    link: Link,
    peer: SessionPeer,
  ) {
    super(peer.tls, STATE.OPEN);
    this.channel = new SecureChannel(this, link);
    this.ssid = peer.ssid;
    if (peer.ip !== lastIp) {
      lastIp = peer.ip;
      lastHome = homePrefix(peer.ip);
    }
    this.ip = lastIp ?? peer.ip;
    this.home = lastHome;
    this.certificate = peer.certificate ?? (peer.identity?.kind === 'certificate' ? peer.identity.id : null);
    if (peer.serial) this.declareSerial(true, false);
    this.level = port.policy.defaultQuotaLevel;
    this.quota = QUOTA_TABLE[this.level] ?? QUOTA_TABLE[3]!;
    this.helloLow = randomUint(3);
    this.helloHigh = randomUint(3);
    this.channel.sendPlain(this.hello());
    this.channel.sendPlain(SERVER_READY_MSG);
    this.state = STATE.SERVER_READY;
    if (peer.identity) this.login.presentIdentity(peer.identity);
  }

  /** The SERVER_TIME_NONCE this connection got: nonce = random bytes 0..3, filler = bytes 4..5. */
  hello(): Buffer {
    return encodeServerTimeNonceOf(this.createdAt, this.helloLow, this.helloHigh);
  }

  /** When the connection was accepted (ms since the Unix epoch). */
  /** Rights that came with its login (a JWT's claim, an auth hook's answer); null: the ACL alone decides. */
  get grants(): Grants | null {
    return this.outside?.grants ?? null;
  }

  /** An auth hook said it may do everything. */
  get superuser(): boolean {
    return this.outside?.superuser ?? false;
  }

  get createdAt(): number {
    return PROCESS_EPOCH + this.bornAt;
  }

  get link(): Link {
    return this.channel.link;
  }

  get transport(): Link['transport'] {
    return this.channel.link.transport;
  }

  get login(): LoginFlow {
    return (this.flow ??= new LoginFlow(this));
  }

  get quotaViolations(): number {
    return this.rare?.quotas?.violations ?? 0;
  }

  /** The device id of its login ('' without one): kept by the login flow, which only logged-in sessions have. */
  get did(): string {
    return this.flow?.did ?? '';
  }

  set did(id: string) {
    this.login.did = id;
  }

  /** The user id its device record names ('' without one). */
  get uid(): string {
    return this.flow?.uid ?? '';
  }

  set uid(id: string) {
    this.login.uid = id;
  }

  /** Why the server closed it (for logs); empty when the peer went away. */
  get closeReason(): string {
    return this.rare?.closeReason ?? '';
  }

  set closeReason(reason: string) {
    (this.rare ??= new RareState()).closeReason = reason;
  }

  /** What delivery groups write to. */
  get receiver(): Receiver {
    return this.channel;
  }

  // ---- the way out (secure-channel.ts) ------------------------------------------------------

  /** Its backlog passed the soft limit: the watch times how long it stays behind. */
  fellBehind(): void {
    this.port.watch.fellBehind(this.channel);
  }

  /** Its backlog passed the hard cap: the policy at once. */
  overCap(): void {
    this.port.watch.overCap(this.channel);
  }

  deliveryChanged(): void {
    if (!this.closed) this.port.deliveryChanged(this);
  }

  /**
   * Who its holdings in the router's shared caps are charged to: its device once logged in, else its address unit
   * (an IPv4 address or an IPv6 /64, as the login throttle); null at the admin level.
   */
  get shareOwner(): ShareOwner {
    if (this.admin || this.authorized) return shareOwnerOf(this.authorized, this.admin, this.did, '');
    if (this.addressOwner === null) {
      // A burst from one address shares one owner key.
      if (this.ip !== lastOwnerIp) {
        lastOwnerIp = this.ip;
        lastOwner = shareOwnerOf(false, false, '', throttleKey(this.ip)) ?? '';
      }
      this.addressOwner = lastOwner;
    }
    return this.addressOwner;
  }

  // ---- receiving ----------------------------------------------------------------------------

  /** One whole protocol message from the transport. The view is only valid during this call. */
  receive(msg: Uint8Array): void {
    // The containment path, inline: no closure and no string per message on the hot path.
    try {
      this.receiveMessage(msg);
    } catch (err) {
      this.internalError(`on a ${msg.length}-byte message of type 0x${(msg[0] ?? 0).toString(16)}`, err);
    }
  }

  /**
   * One plain-device frame (issue 16 item 5): the quotas judge it once, by all the work it asks for (frameSizes),
   * before any of its messages is written, so a refused frame costs nothing more; then each is received in turn.
   */
  receiveFrame(frame: FrameMessages): void {
    try {
      if (this.closed || frame.count === 0) return;
      const { largest, total } = frameSizes(frame);
      if (this.overQuota(largest, total, frame.count)) return this.heard();
      for (let i = 0; i < frame.count && !this.closed; i++) this.receiveMessage(frame.message(i), true);
    } catch (err) {
      this.internalError(`on a plain frame of ${frame.count} messages`, err);
    }
  }

  /** `quotaChecked`: the quotas have judged it already (as part of a frame). */
  private receiveMessage(msg: Uint8Array, quotaChecked = false): void {
    if (this.closed || msg.length === 0) return;
    this.heard();
    this.messagesIn++;
    this.bytesIn += msg.length;
    const { stats, policy } = this.port;
    stats.messagesIn++;
    stats.bytesIn += msg.length;
    if (policy.showMessages) this.port.log(describeReceived(msg, this.cid, this.did));
    if (!quotaChecked && this.overQuota(msg.length)) return;
    if (this.channel.order?.inbox?.busy) return this.channel.afterOpening(msg, (held) => this.receiveInOrder(held));
    this.receiveInOrder(msg);
  }

  private receiveInOrder(msg: Uint8Array): void {
    if (this.closed) return;
    if (this.flow?.holding) return this.flow.hold(msg);
    this.dispatchOuter(msg);
  }

  /** Dispatches a message held during a login; behind a large ENC_488 still being opened, it waits its turn. */
  replay(msg: Uint8Array): void {
    if (this.channel.order?.inbox?.busy) return this.channel.afterOpening(msg, (held) => this.receiveInOrder(held));
    this.dispatchOuter(msg);
  }

  /** Dispatches one outer message; whatever goes wrong in a handler costs this connection only. */
  private dispatchOuter(msg: Uint8Array): void {
    try {
      dispatch(this, msg, true);
    } catch (err) {
      this.internalError(`on ${msg.length}-byte message type 0x${msg[0]!.toString(16)}`, err);
    }
  }

  /** The containment path for connection code that runs later (login verdicts, replies, timers): contain.ts. */
  contain(what: string, fn: () => void): void {
    if (this.closed) return;
    try {
      fn();
    } catch (err) {
      this.internalError(`in ${what}`, err);
    }
  }

  /**
   * A bug or input we did not foresee (a handler, a deferred callback, an in-order queue step, a transport
   * callback): counted as iosig_internal_errors_total, logged with this connection, and this connection dropped,
   * never the server. `where` reads after "internal error" ("in a timer", "while sending"...).
   */
  internalError(where: string, err: unknown): void {
    this.port.stats.internalErrors++;
    closeOnError(this, where, err);
  }

  // ---- liveness (the duplicate-login probe, guard/duplicate-login.ts) ------------------------------

  /** Any sign of life from the peer: a message, a text frame, a WebSocket ping or pong frame. */
  heard(): void {
    this.alive = true;
    const rare = this.rare;
    const waiters = rare?.heardWaiters;
    if (!waiters) return;
    rare!.heardWaiters = null;
    for (const wake of waiters) wake();
  }

  onceHeard(heard: () => void): () => void {
    const rare = (this.rare ??= new RareState());
    (rare.heardWaiters ??= []).push(heard);
    return () => {
      const at = rare.heardWaiters?.indexOf(heard) ?? -1;
      if (at >= 0) rare.heardWaiters!.splice(at, 1);
    };
  }

  probe(): void {
    this.link.probe();
  }

  dispatchInner(msg: Uint8Array): void {
    dispatch(this, msg, false);
  }

  /** A WebSocket text frame: not a protocol message, but it marks the peer alive and counts (§1.1). */
  receiveText(text: string, bytes: number): void {
    runContained(this, 'on a text frame', () => {
      if (this.closed) return;
      this.heard();
      this.messagesIn++;
      this.bytesIn += bytes;
      this.port.stats.textMessages++;
      this.port.stats.bytesIn += bytes;
      if (this.port.policy.showMessages) this.port.log(describeText(text, this.cid));
      if (!this.overQuota(bytes)) this.port.text(this, text);
    });
  }

  /** `size` against the size quota, `total` (default: the same) and `count` messages against the rates. */
  private overQuota(size: number, total = size, count = 1): boolean {
    const { useQuota } = this.port.policy;
    if (!useQuota.signalSize && !useQuota.trafficRate) return false;
    return ((this.rare ??= new RareState()).quotas ??= new QuotaCheck()).over(this, size, total, count);
  }

  bad(what: string): void {
    this.port.stats.badMessages++;
    if (this.port.policy.showMessages) this.report(`dropped: ${what}`);
  }

  setLevel(level: number): void {
    this.level = level;
    this.quota = QUOTA_TABLE[level] ?? this.quota;
    this.admin = level === this.port.policy.adminLevel;
    this.rare?.quotas?.reset();
  }

  /** The key store no longer admits this login (device removed or re-keyed): AUTH_CLEAR, then close. */
  revoke(reason: string): void {
    if (this.closed || !this.authorized) return;
    this.channel.sendPlain(encodeAuthClear(reason));
    this.close(`login revoked: ${reason}`);
  }

  later(ms: number, fn: () => void): void {
    const timers = ((this.rare ??= new RareState()).timers ??= new Set());
    const timer = this.port.clock.after(ms, () => {
      timers.delete(timer);
      this.contain('a timer', fn);
    });
    timers.add(timer);
  }

  report(what: string): void {
    this.port.log(`#${this.ssid} ${this.transport} ${this.ip} ${what}`);
  }

  // ---- closing ------------------------------------------------------------------------------

  /**
   * The one way the server ends a connection. The first call records the reason and logs it; a later forceful
   * call (e.g. shutdown during a graceful close) still tears the link down. The link reports back once, through
   * `linkClosed`, which does the bookkeeping.
   */
  close(reason: string, how: CloseHow = 'graceful', bytes?: Uint8Array): void {
    if (this.closed) return;
    const graceful = how === 'graceful' || how === 'refused';
    if (!this.closeReason) {
      this.closeReason = reason;
      if (how === 'attack') this.port.attack(this, reason, bytes ?? new Uint8Array(0));
      if (how === 'graceful') this.report(`closing: ${reason}`);
      else if (how !== 'shutdown' && how !== 'refused' && how !== 'silent') this.report(`dropped: ${reason}`);
    } else if (graceful) {
      return;
    }
    if (graceful) this.link.close(reason);
    else this.link.destroy(reason);
  }

  /** The link is gone: the broker publishes the close notices (§5.8), ends the session (end) and forgets it. */
  linkClosed(): void {
    if (this.closed) return;
    this.state = STATE.CLOSED;
    this.port.closed(this);
  }

  /** Called by the broker once the close notices are out: from here on the session takes and runs nothing. */
  end(): void {
    this.markClosed();
    this.flow?.drop();
    this.channel.clear();
    const timers = this.rare?.timers;
    if (timers) for (const timer of timers) timer.cancel();
    if (timers) this.rare!.timers = null;
  }
}
