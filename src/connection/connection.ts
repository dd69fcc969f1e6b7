// The per-connection state machine (PROTOCOL.md §3): handshake, CID, keepalive, quotas and the
// dispatch of every client message. The only place that knows the protocol's states.
import { randomBytes } from 'node:crypto';
import { MSG, QUOTA_TABLE, STATE, STATUS, type Quota, type StateCode } from '../protocol/codes.js';
import {
  AUTH_FAIL_MSG,
  OVER_SIZE_MSG,
  SERVER_READY_MSG,
  encodeAuthClear,
  encodeCidRes,
  encodeIamRes,
  encodeServerTimeNonce,
  encodeSignal,
  iamNick,
  signalTag,
  subscribeReq,
  subscribeTags,
  unsubscribeRequest,
} from '../protocol/messages.js';
import { encodeResponseMbp, decodeCall } from '../protocol/rpc.js';
import { PAYLOAD } from '../protocol/codes.js';
import type { Link } from '../transport/link.js';
import { Outbound } from '../transport/link.js';
import type { Subscription } from '../router/channel.js';
import type { BrokerContext } from './context.js';
import { firstForwardedFor, homePrefix, normalizeIp } from './address.js';
import { describeReceived, describeText } from './message-log.js';

/** What a transport knows about a new peer. */
export interface PeerInfo {
  peerIp: string;
  forwardedFor?: string;
  forwardedProto?: string;
  /** The transport itself is TLS (wss / TLS CongSocket). */
  tls?: boolean;
}

const CLOSE_TEXT = Buffer.from('close\0');
const ECHO_LIMIT = 30;

export class Connection {
  readonly ssid: number;
  readonly createdAt = Date.now();
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
  /** Set by any incoming traffic; cleared by each keepalive sweep (§1.3). */
  alive = true;
  closed = false;
  /** Channel key → membership (insertion order = subscription order). */
  readonly subscriptions = new Map<string, Subscription>();
  /** CID-retained messages published by this connection, keyed by topic (`$x`), §5.6. */
  readonly cidRetained = new Map<string, Buffer>();
  /** Boho salt material kept from SERVER_TIME_NONCE (bytes 1..12) and the server nonce. */
  readonly authSalt: Buffer;
  readonly serverNonce: Buffer;

  messagesIn = 0;
  bytesIn = 0;
  private directMessagesOut = 0;
  private directBytesOut = 0;
  private pastNativeMessages = 0;
  private pastNativeBytes = 0;
  private timers = new Set<NodeJS.Timeout>();

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
    const hello = randomBytes(6);
    this.serverNonce = hello.subarray(0, 4);
    const nonce = encodeServerTimeNonce(Date.now(), hello.subarray(4, 6), this.serverNonce);
    this.authSalt = nonce.subarray(1, 13);
    this.sendPlain(nonce);
    this.sendPlain(SERVER_READY_MSG);
    this.state = STATE.SERVER_READY;
  }

  get transport(): Link['transport'] {
    return this.link.transport;
  }

  // ---- sending ------------------------------------------------------------------------------

  /** True when this session receives the same bytes as everyone else (no per-receiver encryption). */
  sharesPlainBytes(): boolean {
    return !this.encrypts();
  }

  /** Encryption rule of §4.7: authorised and not on TLS. Encryption arrives with the auth issue. */
  private encrypts(): boolean {
    return false;
  }

  /** Never-encrypted messages (handshake, PING/PONG, OVER_SIZE...). */
  sendPlain(msg: Uint8Array): void {
    if (this.link.send(msg)) this.countOut(msg.length);
  }

  /** Messages that follow the encryption rule (CID_RES, IAM_RES, RESPONSE_MBP, SERVER_SIGNAL...). */
  sendEligible(msg: Uint8Array): void {
    this.sendPlain(msg);
  }

  /** A signal delivery; `out` may be shared with other receivers. */
  deliver(out: Outbound): void {
    if (this.link.sendShared(out)) this.countOut(out.msg.length);
  }

  private countOut(bytes: number): void {
    this.directMessagesOut++;
    this.directBytesOut += bytes;
    this.ctx.counters.messagesOut++;
    this.ctx.counters.bytesOut += bytes;
  }

  /** The link's or the session's delivery needs changed: subscriptions move between native and direct paths. */
  deliveryChanged(): void {
    if (!this.closed) this.ctx.router.refreshDelivery(this);
  }

  /** Native deliveries of a channel this connection stopped receiving natively. */
  addNativeTraffic(messages: number, bytes: number): void {
    this.pastNativeMessages += messages;
    this.pastNativeBytes += bytes;
  }

  get messagesOut(): number {
    let n = this.directMessagesOut + this.pastNativeMessages;
    for (const sub of this.subscriptions.values()) {
      if (sub.native) n += sub.channel.nativeMessages - sub.messagesAtJoin;
    }
    return n;
  }

  get bytesOut(): number {
    let n = this.directBytesOut + this.pastNativeBytes;
    for (const sub of this.subscriptions.values()) {
      if (sub.native) n += sub.channel.nativeBytes - sub.bytesAtJoin;
    }
    return n;
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
    try {
      this.dispatch(msg);
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

  /** Size quota (§3.11, §8.2): OVER_SIZE, drop, and optionally disconnect. */
  private overQuota(size: number): boolean {
    const { useQuota } = this.ctx.options;
    if (!useQuota.signalSize || size <= this.quota.signalSize) return false;
    this.ctx.counters.overSize++;
    this.sendPlain(OVER_SIZE_MSG);
    if (useQuota.disconnect) this.close(`over size quota (${size} > ${this.quota.signalSize} bytes)`);
    return true;
  }

  private dispatch(msg: Uint8Array): void {
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
        return this.onAuthReq();
      case MSG.ENC_488:
      case MSG.ENC_E2E:
        // Q20: encrypted bytes from a connection that is not authorised are dropped.
        if (!this.authorized) this.ctx.counters.badMessages++;
        return;
      default:
        return; // unknown codes are ignored silently (§2)
    }
  }

  private bad(what: string): void {
    this.ctx.counters.badMessages++;
    if (this.ctx.options.showMessage === 'message') this.ctx.options.log(`#${this.ssid} dropped: ${what}`);
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
  iam(): { ssid: number; cid: string; did: string; uid: string; level: number; nick: string; ip: string; tag: string[] } {
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

  /** CALL: no RPC services are attached in this build, so every valid call gets UNKNOWN_SERVICE (Q12). */
  private onCall(msg: Uint8Array): void {
    const call = decodeCall(msg);
    if (!call) return this.bad('malformed CALL');
    this.sendEligible(encodeResponseMbp(STATUS.ERROR, call.mid, 'UNKNOWN_SERVICE'));
  }

  /** No key store is configured yet: every login fails, after the usual delay (Q18). */
  private onAuthReq(): void {
    this.later(this.ctx.options.authFailDelay, () => {
      this.state = STATE.AUTH_FAIL;
      this.sendPlain(AUTH_FAIL_MSG);
    });
  }

  /** A timer that dies with the connection. */
  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(timer);
  }

  /** A log line about this connection. */
  report(what: string): void {
    this.ctx.log(`#${this.ssid} ${this.transport} ${this.ip} ${what}`);
  }

  // ---- closing ------------------------------------------------------------------------------

  /** Server-initiated graceful close; the transport reports back through `onLinkClosed`. */
  close(reason: string): void {
    if (this.closed) return;
    this.report(`closing: ${reason}`);
    this.link.close(reason);
  }

  /** Immediate teardown (attacks, framing errors). */
  destroy(reason: string): void {
    if (this.closed) return;
    this.report(`dropped: ${reason}`);
    this.link.destroy(reason);
  }

  /** The socket is gone: close notices (§5.8), then forget the connection everywhere. */
  onLinkClosed(): void {
    if (this.closed) return;
    this.state = STATE.CLOSED;
    // It can no longer receive anything, so its own subscriptions go first.
    this.ctx.router.unsubscribeAll(this);
    if (!(this.ctx.options.membersOnly && !this.authorized)) {
      this.publishNotice('@state');
      this.publishNotice('@$state');
    }
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.ctx.router.forget(this);
    this.ctx.connectionClosed(this);
  }

  private publishNotice(tag: string): void {
    this.ctx.router.publish(this, encodeSignal(tag, PAYLOAD.TEXT, CLOSE_TEXT), tag);
  }
}
