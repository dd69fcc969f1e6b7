// The per-connection state machine (PROTOCOL.md §3, §4): handshake, CID, login, encryption, quotas and
// the dispatch of every client message. The only place that knows the protocol's states.
import { randomFillSync } from 'node:crypto';
import { MSG, PAYLOAD, QUOTA_TABLE, STATE, STATUS, type Quota, type StateCode } from '../protocol/codes.js';
import {
  AUTH_FAIL_MSG,
  OVER_SIZE_MSG,
  SERVER_READY_MSG,
  encodeAuthClear,
  encodeCidRes,
  encodeIamRes,
  encodeQuotaLevel,
  encodeServerTimeNonce,
  type IamInfo,
  encodeSignal,
  iamNick,
  signalTag,
  subscribeReq,
  subscribeTags,
  unsubscribeRequest,
} from '../protocol/messages.js';
import { encodeResponseMbp, decodeCall } from '../protocol/rpc.js';
import { BohoSession, parseAuthReq, type AuthRequest } from '../crypto/boho.js';
import type { Link } from '../transport/link.js';
import type { Outbound } from '../delivery/outbound.js';
import type { SlowConsumerPolicy, TopicSocket } from '../delivery/receiver.js';
import type { Subscriber, Subscription } from '../router/channel.js';
import type { BrokerContext } from './context.js';
import { firstForwardedFor, homePrefix, normalizeIp } from './address.js';
import { describeReceived, describeText } from './message-log.js';
import { decideLogin } from './login.js';
import { decideIdentity, type PresentedIdentity } from './identity.js';
import { TokenBucket } from './token-bucket.js';
import type { LoginFailureReason } from './login-guard.js';

/** What a transport knows about a new peer. */
export interface PeerInfo {
  peerIp: string;
  forwardedFor?: string;
  forwardedProto?: string;
  /** The transport itself is TLS (wss / TLS CongSocket). */
  tls?: boolean;
  /** A verified client certificate or a bearer token: the device is known before it says anything. */
  identity?: PresentedIdentity;
}

const CLOSE_TEXT = Buffer.from('close\0');
/**
 * The boho 1.x login that the published iosignal 2.x clients speak: same layouts and crypto, other codes
 * (client asks with [B0 00], server nonce B1, proof B2, ack B3, fail B4). 5.x clients never send B0 or B2.
 */
const LEGACY = { NONCE_REQUEST: 0xb0, NONCE: 0xb1, PROOF: 0xb2, ACK: 0xb3, FAIL: 0xb4 } as const;
const LEGACY_FAIL_MSG = Buffer.from([LEGACY.FAIL]);
const NO_SUBSCRIPTIONS: ReadonlyMap<string, Subscription> = new Map();
const ECHO_LIMIT = 30;
/** Messages held back while a login is checked; a client that floods meanwhile is closed. */
const HOLD_LIMIT_BYTES = 1024 * 1024;
const helloScratch = Buffer.alloc(6);
const PROCESS_EPOCH = Date.now();

export class Connection implements Subscriber {
  readonly ssid: number;
  /** Milliseconds since PROCESS_EPOCH: a small integer, stored inline rather than as a boxed double. */
  private readonly bornAt = Date.now() - PROCESS_EPOCH;
  state: StateCode = STATE.OPEN;
  cid = '';
  did = '';
  uid = '';
  nick = '';
  readonly ip: string;
  readonly home: string;
  readonly tls: boolean;
  level: number;
  quota: Quota;
  authorized = false;
  admin = false;
  /** Set by any incoming traffic; cleared by each keepalive sweep (§1.3). */
  alive = true;
  closed = false;
  /** Why the server closed it (for logs); empty when the peer went away. */
  closeReason = '';
  /** Channel key → membership (insertion order = subscription order); made on the first subscribe. */
  private subs: Map<string, Subscription> | null = null;
  /**
   * The SERVER_TIME_NONCE sent at the start (the salt of every later AUTH_REQ), kept as its 6 random
   * bytes in two 24-bit integers (its time is `createdAt`) rather than a Buffer, to keep idle connections small.
   */
  private readonly helloLow: number;
  private readonly helloHigh: number;
  /** Boho state, made when the first AUTH_REQ arrives (idle connections stay small). */
  private session: BohoSession | null = null;
  /** The salt sent to a boho 1.x client (as a 5.x SERVER_TIME_NONCE), once it asked for one. */
  private legacyHello: Buffer | null = null;
  /** Messages that arrived while a login is being decided, replayed after it (§3.1 ordering). */
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  /** CID-retained messages published by this connection, keyed by topic (`$x`), §5.6. */
  private retainedByTopic: Map<string, Buffer> | null = null;
  private timers: Set<NodeJS.Timeout> | null = null;
  private bucket: TokenBucket | null = null;
  quotaViolations = 0;

  messagesIn = 0;
  bytesIn = 0;
  private directMessagesOut = 0;
  private directBytesOut = 0;
  private pastNativeMessages = 0;
  private pastNativeBytes = 0;

  constructor(
    private readonly ctx: BrokerContext,
    readonly link: Link,
    peer: PeerInfo,
  ) {
    this.ssid = ctx.nextSsid();
    const peerIp = normalizeIp(peer.peerIp);
    const trusted = ctx.proxyTrust.trusts(peerIp);
    this.ip = trusted && peer.forwardedFor ? normalizeIp(firstForwardedFor(peer.forwardedFor)) : peerIp;
    this.home = homePrefix(this.ip);
    this.tls = peer.tls === true || (trusted && peer.forwardedProto === 'https');
    this.level = ctx.options.defaultQuotaLevel;
    this.quota = QUOTA_TABLE[this.level] ?? QUOTA_TABLE[3]!;
    randomFillSync(helloScratch);
    this.helloLow = helloScratch.readUIntLE(0, 3);
    this.helloHigh = helloScratch.readUIntLE(3, 3);
    this.sendPlain(this.hello());
    this.sendPlain(SERVER_READY_MSG);
    this.state = STATE.SERVER_READY;
    if (peer.identity) this.presentIdentity(peer.identity);
  }

  /** The SERVER_TIME_NONCE this connection got: nonce = random bytes 0..3, filler = bytes 4..5. */
  private hello(): Buffer {
    helloScratch.writeUIntLE(this.helloLow, 0, 3);
    helloScratch.writeUIntLE(this.helloHigh, 3, 3);
    return encodeServerTimeNonce(this.createdAt, helloScratch.subarray(4, 6), helloScratch.subarray(0, 4));
  }

  /** When the connection was accepted (ms since the Unix epoch). */
  get createdAt(): number {
    return PROCESS_EPOCH + this.bornAt;
  }

  get transport(): Link['transport'] {
    return this.link.transport;
  }

  // ---- sending ------------------------------------------------------------------------------

  /**
   * Encryption rule of §4.7: the server encrypts to authorised sessions that are not on TLS. A device known
   * by a bearer token has no Boho session key, so it is never encrypted to.
   */
  private encrypts(): boolean {
    return this.authorized && !this.tls && this.session?.authorized === true;
  }

  /** Native topics, when this session receives the same bytes as everyone else and its link has them. */
  topicSocket(): TopicSocket | null {
    return this.encrypts() ? null : this.link.topics();
  }

  hasRoom(bytes: number): boolean {
    return this.link.hasRoom(bytes);
  }

  /** Never-encrypted messages (handshake, AUTH_*, QUOTA_LEVEL, PING/PONG, OVER_SIZE...). */
  sendPlain(msg: Uint8Array): void {
    if (!this.link.hasRoom(msg.length)) return this.linkOverLimit();
    if (!this.link.send(msg)) return;
    this.countOwn(msg.length);
    this.ctx.counters.messagesOut++;
    this.ctx.counters.bytesOut += msg.length;
  }

  /** Messages that follow the encryption rule (CID_RES, IAM_RES, RESPONSE_MBP, SERVER_SIGNAL, ECHO...). */
  sendEligible(msg: Uint8Array): void {
    if (!this.encrypts()) return this.sendPlain(msg);
    const sealed = this.session!.encrypt488(msg);
    if (sealed) this.sendPlain(sealed);
  }

  /**
   * A delivery from a group, which has checked hasRoom and counts it globally; `out` may be shared with other
   * receivers. Returns the bytes written (0 when nothing was).
   */
  deliver(out: Outbound): number {
    if (!this.encrypts()) {
      if (!this.link.sendShared(out)) return 0;
      this.countOwn(out.msg.length);
      return out.msg.length;
    }
    const msg = out.msg;
    // §4.6: for SIGNAL_E2E only the header is re-encrypted; the ENC_PACK travels untouched.
    const sealed =
      msg[0] === MSG.SIGNAL_E2E ? this.session!.sealE2E(msg, 3 + msg[1]!) : this.session!.encrypt488(msg);
    if (!sealed || !this.link.send(sealed)) return 0;
    this.countOwn(sealed.length);
    return sealed.length;
  }

  private countOwn(bytes: number): void {
    this.directMessagesOut++;
    this.directBytesOut += bytes;
  }

  /**
   * Over the backpressure limit (§ slow consumers): under 'close' the connection is dropped (once); under 'drop'
   * it leaves the shared native path until its link drains. Deferred: this runs inside fan-out loops over the
   * very sets it changes. False when it was already being handled.
   */
  overLimit(policy: SlowConsumerPolicy): boolean {
    if (this.closed || this.closeReason) return false;
    if (policy === 'close') {
      const reason = 'slow consumer: send buffer over the backpressure limit';
      this.closeReason = reason;
      this.report(`dropped: ${reason}`);
      queueMicrotask(() => this.link.destroy(reason));
      return true;
    }
    if (!this.link.saturate()) return false;
    queueMicrotask(() => this.deliveryChanged());
    return true;
  }

  /** The link found itself over the limit on a send of its own (control messages, sealed deliveries). */
  linkOverLimit(): void {
    const policy = this.ctx.options.slowConsumer;
    if (policy === 'drop') {
      this.ctx.counters.drops++;
      this.overLimit('drop');
    } else if (this.overLimit('close')) {
      this.ctx.counters.slowConsumerCloses++;
    }
  }

  /** The link's or the session's delivery needs changed: subscriptions move between native and stream groups. */
  deliveryChanged(): void {
    if (!this.closed) this.ctx.router.refreshDelivery(this);
  }

  /** Native deliveries of a channel this connection stopped receiving natively. */
  addSharedTraffic(messages: number, bytes: number): void {
    this.pastNativeMessages += messages;
    this.pastNativeBytes += bytes;
  }

  get messagesOut(): number {
    let n = this.directMessagesOut + this.pastNativeMessages;
    for (const sub of this.subscriptions.values()) {
      if (sub.members.sentMessages !== undefined) n += sub.members.sentMessages - sub.messagesAtJoin;
    }
    return n;
  }

  get bytesOut(): number {
    let n = this.directBytesOut + this.pastNativeBytes;
    for (const sub of this.subscriptions.values()) {
      if (sub.members.sentBytes !== undefined) n += sub.members.sentBytes - sub.bytesAtJoin;
    }
    return n;
  }

  // ---- subscriptions (kept by the router) ----------------------------------------------------

  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.subs ?? NO_SUBSCRIPTIONS;
  }

  addSubscription(key: string, sub: Subscription): void {
    (this.subs ??= new Map()).set(key, sub);
  }

  removeSubscription(key: string): void {
    this.subs?.delete(key);
  }

  // ---- CID-retained messages ----------------------------------------------------------------

  retainedFor(topic: string): Buffer | undefined {
    return this.retainedByTopic?.get(topic);
  }

  /** Keeps a copy; at `limit` entries only existing topics are updated. */
  retain(topic: string, msg: Uint8Array, limit: number): void {
    const store = (this.retainedByTopic ??= new Map());
    if (store.size < limit || store.has(topic)) store.set(topic, Buffer.from(msg));
  }

  retainedTopics(): string[] {
    return this.retainedByTopic ? [...this.retainedByTopic.keys()] : [];
  }

  get retainedCount(): number {
    return this.retainedByTopic?.size ?? 0;
  }

  dropRetained(): void {
    this.retainedByTopic = null;
  }

  // ---- receiving ----------------------------------------------------------------------------

  /** One whole protocol message from the transport. The view is only valid during this call. */
  receive(msg: Uint8Array): void {
    if (this.closed || msg.length === 0) return;
    this.alive = true;
    this.messagesIn++;
    this.bytesIn += msg.length;
    const { counters, options } = this.ctx;
    counters.messagesIn++;
    counters.bytesIn += msg.length;
    if (options.showMessage === 'message') options.log(describeReceived(msg, this.cid, this.did));
    if (this.overQuota(msg.length)) return;
    if (this.held) return this.hold(msg);
    this.dispatchSafely(msg);
  }

  private dispatchSafely(msg: Uint8Array): void {
    try {
      this.dispatch(msg, true);
    } catch (err) {
      // A bug or input we did not foresee must cost this connection only, never the server.
      this.ctx.counters.badMessages++;
      this.destroy(`internal error on ${msg.length}-byte message type 0x${msg[0]!.toString(16)}: ${String(err)}`);
    }
  }

  /** A WebSocket text frame: not a protocol message, but it marks the peer alive and counts (§1.1). */
  receiveText(text: string, bytes: number): void {
    if (this.closed) return;
    this.alive = true;
    this.messagesIn++;
    this.bytesIn += bytes;
    this.ctx.counters.textMessages++;
    this.ctx.counters.bytesIn += bytes;
    if (this.ctx.options.showMessage === 'message') this.ctx.options.log(describeText(text, this.cid));
    if (this.overQuota(bytes)) return;
    this.ctx.emit('text_message', this, text);
  }

  /** Size and rate quotas (§8.2): the raw received size, before decryption. */
  private overQuota(size: number): boolean {
    const { useQuota } = this.ctx.options;
    if (useQuota.signalSize && size > this.quota.signalSize) {
      // OVER_SIZE goes out before a disconnect (§3.11), so the client learns why.
      this.ctx.counters.overSize++;
      this.sendPlain(OVER_SIZE_MSG);
      this.violation(`over size quota (${size} > ${this.quota.signalSize} bytes)`);
      return true;
    }
    if (useQuota.trafficRate) {
      const now = Date.now();
      this.bucket ??= new TokenBucket(this.quota.trafficRate, now);
      if (!this.bucket.take(size, now)) {
        this.violation(`over traffic rate quota (${this.quota.trafficRate} bytes/s)`);
        return true;
      }
    }
    return false;
  }

  private violation(what: string): void {
    this.quotaViolations++;
    this.ctx.counters.quotaViolations++;
    if (this.ctx.options.useQuota.disconnect) this.close(what);
  }

  private hold(msg: Uint8Array): void {
    // Keepalive traffic may pass; everything else waits for the login's outcome.
    if (msg[0] === MSG.PING) return this.link.answerPing();
    if (msg[0] === MSG.PONG) return;
    this.heldBytes += msg.length;
    if (this.heldBytes > HOLD_LIMIT_BYTES) return this.close('flooding while a login is checked');
    this.held!.push(Buffer.from(msg));
  }

  /** Ends a hold: replays what arrived meanwhile, in order, unless a new login holds again. */
  private release(): void {
    const queue = this.held;
    this.held = null;
    this.heldBytes = 0;
    if (!queue) return;
    for (let i = 0; i < queue.length && !this.closed; i++) {
      // A replayed AUTH_REQ starts a new hold (TS cannot see dispatch changing `held`).
      const holding = this.held as Buffer[] | null;
      if (holding) {
        holding.push(...queue.slice(i));
        return;
      }
      this.dispatchSafely(queue[i]!);
    }
  }

  private dispatch(msg: Uint8Array, outer: boolean): void {
    switch (msg[0]) {
      case MSG.SIGNAL:
      case MSG.SIGNAL_E2E:
        return this.onSignal(msg);
      case MSG.SUBSCRIBE:
        return this.onSubscribe(msg);
      case MSG.SUBSCRIBE_REQ:
        return this.onSubscribeReq(msg);
      case MSG.UNSUBSCRIBE:
        return this.onUnsubscribe(msg);
      case MSG.CID_REQ:
        return this.onCidReq();
      case MSG.IAM:
        return this.onIam(msg);
      case MSG.ECHO:
        // Q9: the reply follows the encryption rule; the 30-byte limit stays.
        if (msg.length < ECHO_LIMIT) this.sendEligible(Buffer.from(msg));
        return;
      case MSG.PING:
        return this.link.answerPing();
      case MSG.PONG:
        return;
      case MSG.CLOSE:
        return this.onClose(msg);
      case MSG.CALL:
        return this.onCall(msg);
      case MSG.AUTH_REQ:
        return this.onAuthReq(msg, false);
      case LEGACY.NONCE_REQUEST:
        return this.onLegacyNonceRequest();
      case LEGACY.PROOF:
        if (!this.legacyHello) return this.bad('AUTH_RES from a client');
        return this.onAuthReq(Buffer.concat([Buffer.from([MSG.AUTH_REQ]), msg.subarray(1)]), true);
      case MSG.ENC_488:
        return this.onEncrypted(msg, outer);
      case MSG.ENC_E2E:
        return this.onEncryptedE2E(msg, outer);
      default:
        return; // unknown codes are ignored silently (§2)
    }
  }

  private bad(what: string): void {
    this.ctx.counters.badMessages++;
    if (this.ctx.options.showMessage === 'message') this.report(`dropped: ${what}`);
  }

  /** ENC_488: any inner message, once; dropped from sessions that are not authorised (Q20). */
  private onEncrypted(msg: Uint8Array, outer: boolean): void {
    if (!outer) return this.bad('nested encryption');
    if (!this.authorized || !this.session?.authorized) return this.bad('encrypted message from a connection without a Boho session');
    const plain = this.session!.decrypt488(msg);
    if (!plain || plain.length === 0) return this.bad('ENC_488 that does not decrypt');
    this.dispatch(plain, false);
  }

  /** ENC_E2E: a SIGNAL_E2E with a session-encrypted header, routed like a SIGNAL (§4.6). */
  private onEncryptedE2E(msg: Uint8Array, outer: boolean): void {
    if (!outer) return this.bad('nested encryption');
    if (!this.authorized || !this.session?.authorized) return this.bad('encrypted message from a connection without a Boho session');
    const plain = this.session!.openE2E(msg);
    if (!plain || plain[0] !== MSG.SIGNAL_E2E) return this.bad('ENC_E2E that does not decrypt to a SIGNAL_E2E');
    this.onSignal(plain);
  }

  private onSignal(msg: Uint8Array): void {
    const tag = signalTag(msg);
    if (tag === null) return this.bad('malformed SIGNAL (short or invalid UTF-8 tag)');
    this.publish(msg, tag);
  }

  private publish(msg: Uint8Array, tag: string): void {
    if (this.ctx.options.membersOnly && !this.authorized) {
      // §5.9: anonymous publish under membersOnly → AUTH_CLEAR and close.
      this.sendPlain(encodeAuthClear());
      this.close('membersOnly: publish without login');
      return;
    }
    this.ctx.tapSignal(this, tag, msg);
    const result = this.ctx.router.publish(this, msg, tag);
    if (!result.ok && (result.reason === 'reserved' || result.reason === 'tag-too-long')) this.bad(`publish ${result.reason}`);
  }

  private onSubscribe(msg: Uint8Array): void {
    const tags = subscribeTags(msg);
    if (tags === null) return this.bad('malformed SUBSCRIBE');
    this.ctx.router.subscribe(this, tags);
  }

  private onSubscribeReq(msg: Uint8Array): void {
    const req = subscribeReq(msg);
    if (!req) return this.bad('short SUBSCRIBE_REQ');
    if (req.tags === null) return this.sendEligible(encodeResponseMbp(STATUS.ERROR, req.mid));
    this.ctx.router.subscribe(this, req.tags);
    this.sendEligible(encodeResponseMbp(STATUS.OK, req.mid));
  }

  private onUnsubscribe(msg: Uint8Array): void {
    const req = unsubscribeRequest(msg);
    if (!req) return this.bad('malformed UNSUBSCRIBE');
    if (req.all) this.ctx.router.unsubscribeAll(this);
    else this.ctx.router.unsubscribe(this, req.tags);
  }

  private onCidReq(): void {
    if (!this.cid) this.ctx.router.assignAnonymousCid(this);
    this.state = STATE.CID_RES;
    this.sendEligible(encodeCidRes(this.cid));
  }

  private onIam(msg: Uint8Array): void {
    const nick = iamNick(msg);
    if (nick !== null) this.nick = nick;
    this.sendEligible(encodeIamRes(JSON.stringify(this.iam())));
  }

  /** The IAM_RES object, keys in the reference's order (§3.8). */
  iam(): IamInfo {
    return {
      ssid: this.ssid,
      cid: this.cid,
      did: this.did,
      uid: this.uid,
      level: this.level,
      nick: this.nick,
      ip: this.ip,
      tag: [...this.subscriptions.keys()],
    };
  }

  private onClose(msg: Uint8Array): void {
    if (msg.length <= 1) return; // a bare CLOSE is ignored, like the reference (Q8)
    const reason = Buffer.from(msg.subarray(1)).toString('utf8');
    this.close(`client CLOSE: ${reason}`);
  }

  /** CALL (§7.1): answered through the service registry; a CALL without a valid mid is ignored (Q12). */
  private onCall(msg: Uint8Array): void {
    const call = decodeCall(msg);
    if (!call) return this.bad('malformed CALL');
    void this.ctx.services.call(this, call, this.ctx.serviceHost).then((reply) => {
      if (this.closed) return;
      let response: Buffer;
      try {
        response = encodeResponseMbp(reply.status, call.mid, reply.body);
      } catch (err) {
        // A service answered something the wire cannot carry (status past 255, a BigInt...).
        this.report(`service ${call.target}.${call.topic} gave a reply that cannot be encoded: ${String(err)}`);
        response = encodeResponseMbp(STATUS.ERROR, call.mid, 'INTERNAL_SERVER_ERROR');
      }
      this.sendEligible(response);
    });
  }

  // ---- login (§4.4, §4.8) -------------------------------------------------------------------

  /** A boho 1.x client asks for a nonce: unix u32LE ‖ ms u32LE ‖ the server nonce, under code B1. */
  private onLegacyNonceRequest(): void {
    const salt = Buffer.allocUnsafe(12);
    const now = Date.now();
    salt.writeUInt32LE(Math.floor(now / 1000) >>> 0, 0);
    salt.writeUInt32LE(now % 1000, 4);
    this.hello().copy(salt, 8, 9, 13);
    this.legacyHello = Buffer.concat([Buffer.from([MSG.SERVER_TIME_NONCE]), salt]);
    this.sendPlain(Buffer.concat([Buffer.from([LEGACY.NONCE]), salt]));
  }

  private onAuthReq(msg: Uint8Array, legacy: boolean): void {
    const req = parseAuthReq(msg);
    if (!req) return this.refuseLogin('truncated AUTH_REQ', legacy, 'malformed');
    if (legacy && !this.legacyHello) return this.refuseLogin('boho 1.x proof without a nonce', legacy, 'malformed');
    // Brute-force throttle (both dialects): no key check at all once the address or the id is over its limit.
    const ticket = this.ctx.loginGuard.begin(this.ip, req.id);
    if (typeof ticket === 'string') return this.refuseLogin(`login throttled (${ticket})`, legacy, ticket);
    // Both hellos carry the same server nonce, so adopting one never disturbs a running session.
    this.session ??= new BohoSession();
    this.session.adoptServerTimeNonce(legacy ? this.legacyHello! : this.hello());
    this.state = STATE.AUTH_REQ;
    this.held = [];
    void decideLogin(this.ctx.keyStore, this.session, req).then((verdict) => {
      ticket.end(verdict.ok);
      if (this.closed) return;
      if (!verdict.ok) return this.refuseLogin(verdict.reason, legacy, verdict.code);
      this.admitLogin(req, verdict.record, verdict.key, verdict.level, legacy);
    });
  }

  /** AUTH_FAIL after the configured delay; held messages follow it. */
  private refuseLogin(reason: string, legacy: boolean, code: LoginFailureReason): void {
    this.ctx.authLog(this, false, reason, code);
    this.held ??= [];
    this.later(this.ctx.options.authFailDelay, () => {
      this.state = STATE.AUTH_FAIL;
      this.sendPlain(legacy ? LEGACY_FAIL_MSG : AUTH_FAIL_MSG);
      this.release();
    });
  }

  /** Every check passed except the duplicate one, which needs the CID index as it is now. */
  private admitLogin(
    req: AuthRequest,
    record: { cid: string; uid?: string; name?: string },
    key: Buffer,
    level: number,
    legacy: boolean,
  ): void {
    const existing = this.ctx.router.cids.get(record.cid);
    if (existing === this) {
      // A repeated login with the same identity: ping (flushes a dead peer) and nothing else, like the reference.
      this.link.probe();
      return this.release();
    }
    if (existing) {
      existing.link.probe();
      if (this.ctx.options.duplicateLogin === 'keep-old') {
        if (this.transport === 'cong') {
          // Devices would sit in AUTH_FAIL; closing makes them retry until the old session times out.
          this.ctx.authLog(this, false, `duplicate login for cid "${record.cid}" (keep old)`, 'duplicate');
          return this.close(`duplicate login for cid "${record.cid}"`);
        }
        return this.refuseLogin(`duplicate login for cid "${record.cid}" (keep old)`, legacy, 'duplicate');
      }
      // Q21 fix: the old session is told and closed; the new one is kept.
      existing.sendPlain(encodeAuthClear('duplicate login.'));
      existing.close(`duplicate login: replaced by #${this.ssid}`);
    }
    this.session!.accept(key, req.clientNonce);
    this.authorized = true;
    this.did = req.id;
    this.uid = record.uid ?? '';
    this.ctx.router.setCid(this, record.cid);
    this.nick = this.cid;
    this.setLevel(level);
    this.sendPlain(encodeQuotaLevel(level));
    const ack = this.session!.authRes();
    if (legacy) ack[0] = LEGACY.ACK;
    this.sendPlain(ack);
    this.state = STATE.AUTH_RES;
    this.ctx.authLog(this, true, '');
    this.deliveryChanged(); // encrypted sessions leave the shared native path
    if (record.name) this.publishAs('@$name', Buffer.from(`${record.name}\0`));
    this.release();
  }

  /** Certificate or bearer identity: every message waits until the key store has answered. */
  private presentIdentity(identity: PresentedIdentity): void {
    this.held = [];
    void decideIdentity(this.ctx.keyStore, identity).then((verdict) => {
      if (this.closed) return;
      if (!verdict.ok) {
        this.ctx.authLog(this, false, verdict.reason);
        // A wrong bearer token is refused; a certificate that names no device stays anonymous.
        if (identity.kind === 'bearer') return this.close(`login refused: ${verdict.reason}`);
        return this.release();
      }
      const { record, level } = verdict;
      const existing = this.ctx.router.cids.get(record.cid);
      if (existing && existing !== this) {
        if (this.ctx.options.duplicateLogin === 'keep-old') {
          this.ctx.authLog(this, false, `${verdict.via}: duplicate login for cid "${record.cid}" (keep old)`);
          return this.close(`duplicate login for cid "${record.cid}"`);
        }
        existing.sendPlain(encodeAuthClear('duplicate login.'));
        existing.close(`duplicate login: replaced by #${this.ssid}`);
      }
      this.authorized = true;
      this.did = record.id;
      this.uid = record.uid ?? '';
      this.ctx.router.setCid(this, record.cid);
      this.nick = this.cid;
      this.setLevel(level);
      this.sendPlain(encodeQuotaLevel(level));
      this.ctx.authLog(this, true, verdict.via);
      if (record.name) this.publishAs('@$name', Buffer.from(`${record.name}\0`));
      this.release();
    });
  }

  private setLevel(level: number): void {
    this.level = level;
    this.quota = QUOTA_TABLE[level] ?? this.quota;
    this.admin = level === this.ctx.options.adminLevel;
    this.bucket = null;
  }

  /** A timer that dies with the connection. */
  private later(ms: number, fn: () => void): void {
    const timers = (this.timers ??= new Set());
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!this.closed) fn();
    }, ms);
    timers.add(timer);
  }

  /** A log line about this connection. */
  report(what: string): void {
    this.ctx.log(`#${this.ssid} ${this.transport} ${this.ip} ${what}`);
  }

  // ---- closing ------------------------------------------------------------------------------

  /** Server-initiated graceful close; the transport reports back through `onLinkClosed`. */
  close(reason: string): void {
    if (this.closed || this.closeReason) return;
    this.closeReason = reason;
    this.report(`closing: ${reason}`);
    this.link.close(reason);
  }

  /** Immediate teardown (attacks, framing errors), logged. */
  destroy(reason: string): void {
    if (this.closed) return;
    this.report(`dropped: ${reason}`);
    this.abort(reason);
  }

  /** Immediate teardown without a log line (server shutdown). */
  abort(reason: string): void {
    if (this.closed) return;
    this.closeReason ||= reason;
    this.link.destroy(reason);
  }

  /** Garbage before the connection has a CID: logged as an attack, then dropped (§1.2 rule 4). */
  repel(reason: string, bytes: Uint8Array): void {
    this.ctx.attackLog(this, reason, bytes);
    this.destroy(reason);
  }

  /** The socket is gone: close notices (§5.8), then forget the connection everywhere. */
  onLinkClosed(): void {
    if (this.closed) return;
    this.state = STATE.CLOSED;
    // It can no longer receive anything, so its own subscriptions go first.
    this.ctx.router.unsubscribeAll(this);
    if (!(this.ctx.options.membersOnly && !this.authorized)) {
      this.publishAs('@state', CLOSE_TEXT);
      this.publishAs('@$state', CLOSE_TEXT);
    }
    this.closed = true;
    this.held = null;
    if (this.timers) for (const timer of this.timers) clearTimeout(timer);
    this.timers = null;
    this.ctx.router.forget(this);
    this.ctx.connectionClosed(this);
  }

  /** Publishes a TEXT signal as this connection (close notices, the stored `name`). */
  private publishAs(tag: string, text: Buffer): void {
    this.ctx.router.publish(this, encodeSignal(tag, PAYLOAD.TEXT, text), tag);
  }
}
