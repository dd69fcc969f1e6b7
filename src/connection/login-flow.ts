// A connection's login (PROTOCOL.md §4.4, §4.8): the boho session, the hold-and-replay of messages that arrive
// while a login is decided, the duplicate-login policy, and the boho 1.x dialect that the published iosignal 2.x
// clients speak. Made on the first login message, so idle connections stay small.
import { MSG, PAYLOAD, STATE } from '../protocol/codes.js';
import { AUTH_FAIL_MSG, encodeAuthClear, encodeQuotaLevel, encodeSignal } from '../protocol/messages.js';
import { BohoSession, parseAuthReq, type AuthRequest } from '../crypto/boho.js';
import type { DeviceRecord } from '../auth/key-store.js';
import { decideLogin } from './login.js';
import type { LoginFailureReason } from './login-guard.js';
import { decideIdentity, type IdentityVerdict, type PresentedIdentity } from './identity.js';
import type { LoginPort, Session } from './session.js';

/**
 * The boho 1.x login: same layouts and crypto, other codes (client asks with [B0 00], server nonce B1, proof B2,
 * ack B3, fail B4). 5.x clients never send B0 or B2.
 */
export const LEGACY = { NONCE_REQUEST: 0xb0, NONCE: 0xb1, PROOF: 0xb2, ACK: 0xb3, FAIL: 0xb4 } as const;
const LEGACY_FAIL_MSG = Buffer.from([LEGACY.FAIL]);
/** Bytes of messages held back while a login is checked; a client that sends more meanwhile is closed. */
export const HOLD_LIMIT_BYTES = 1024 * 1024;

export class LoginFlow implements LoginPort {
  boho: BohoSession | null = null;
  /** The salt sent to a boho 1.x client (as a 5.x SERVER_TIME_NONCE), once it asked for one. */
  private legacyHello: Buffer | null = null;
  /** Messages that arrived while a login is being decided, replayed after it (§3.1 ordering). */
  private held: Buffer[] | null = null;
  private heldBytes = 0;

  constructor(private readonly s: Session) {}

  get holding(): boolean {
    return this.held !== null;
  }

  hold(msg: Uint8Array): void {
    // Keepalive traffic may pass; everything else waits for the login's outcome.
    if (msg[0] === MSG.PING) return this.s.link.answerPing();
    if (msg[0] === MSG.PONG) return;
    this.heldBytes += msg.length;
    if (this.heldBytes > HOLD_LIMIT_BYTES) return this.s.close('flooding while a login is checked');
    this.held!.push(Buffer.from(msg));
  }

  /** Ends a hold: replays what arrived meanwhile, in order, unless a new login holds again. */
  private release(): void {
    const queue = this.held;
    this.held = null;
    this.heldBytes = 0;
    if (!queue) return;
    for (let i = 0; i < queue.length && !this.s.closed; i++) {
      // A replayed AUTH_REQ starts a new hold (TS cannot see replay changing `held`).
      const holding = this.held as Buffer[] | null;
      if (holding) {
        holding.push(...queue.slice(i));
        return;
      }
      this.s.replay(queue[i]!);
    }
  }

  /** The connection closed: nothing is replayed any more. */
  drop(): void {
    this.held = null;
    this.heldBytes = 0;
  }

  authReq(msg: Uint8Array): void {
    this.start(msg, false);
  }

  legacyProof(msg: Uint8Array): void {
    if (!this.legacyHello) return this.s.bad('AUTH_RES from a client');
    this.start(Buffer.concat([Buffer.from([MSG.AUTH_REQ]), msg.subarray(1)]), true);
  }

  /** A boho 1.x client asks for a nonce: unix u32LE ‖ ms u32LE ‖ the server nonce, under code B1. */
  legacyNonceRequest(): void {
    const salt = Buffer.allocUnsafe(12);
    const now = Date.now();
    salt.writeUInt32LE(Math.floor(now / 1000) >>> 0, 0);
    salt.writeUInt32LE(now % 1000, 4);
    this.s.hello().copy(salt, 8, 9, 13);
    this.legacyHello = Buffer.concat([Buffer.from([MSG.SERVER_TIME_NONCE]), salt]);
    this.s.sendPlain(Buffer.concat([Buffer.from([LEGACY.NONCE]), salt]));
  }

  private start(msg: Uint8Array, legacy: boolean): void {
    const s = this.s;
    const req = parseAuthReq(msg);
    if (!req) return this.refuse('truncated AUTH_REQ', legacy, 'malformed');
    if (legacy && !this.legacyHello) return this.refuse('boho 1.x proof without a nonce', legacy, 'malformed');
    // Brute-force throttle (both dialects): no key check at all once the address or the id is over its limit.
    const ticket = s.host.loginGuard.begin(s.ip, req.id);
    if (typeof ticket === 'string') return this.refuse(`login throttled (${ticket})`, legacy, ticket);
    // Both hellos carry the same server nonce, so adopting one never disturbs a running session.
    this.boho ??= new BohoSession();
    this.boho.adoptServerTimeNonce(legacy ? this.legacyHello! : s.hello());
    s.state = STATE.AUTH_REQ;
    this.held = [];
    void decideLogin(s.host.keyStore, this.boho, req).then((verdict) => {
      ticket.end(verdict.ok);
      s.contain('a login verdict', () => {
        if (!verdict.ok) return this.refuse(verdict.reason, legacy, verdict.code);
        this.admit(req, verdict.record, verdict.key, verdict.level, legacy);
      });
    });
  }

  /** AUTH_FAIL after the configured delay; held messages follow it. */
  private refuse(reason: string, legacy: boolean, code: LoginFailureReason): void {
    const s = this.s;
    s.host.authLog(s, false, reason, code);
    this.held ??= [];
    s.later(s.host.options.authFailDelay, () => {
      s.state = STATE.AUTH_FAIL;
      s.sendPlain(legacy ? LEGACY_FAIL_MSG : AUTH_FAIL_MSG);
      this.release();
    });
  }

  /** Certificate or bearer identity: every message waits until the key store has answered. */
  presentIdentity(identity: PresentedIdentity): void {
    const s = this.s;
    const { host } = s;
    // A bearer key is a key check like AUTH_REQ, so the same brute-force throttle applies.
    const ticket = identity.kind === 'bearer' ? host.loginGuard.begin(s.ip, identity.id) : null;
    if (typeof ticket === 'string') {
      host.authLog(s, false, `bearer login throttled (${ticket})`, ticket);
      return s.close(`login refused: throttled (${ticket})`);
    }
    this.held = [];
    void decideIdentity(host.keyStore, identity).then((verdict) => {
      ticket?.end(verdict.ok);
      s.contain('an identity verdict', () => this.identified(identity, verdict));
    });
  }

  /** The key store answered for a certificate or bearer identity. */
  private identified(identity: PresentedIdentity, verdict: IdentityVerdict, claimed = false): void {
    const s = this.s;
    const { host } = s;
    if (!verdict.ok) {
      host.authLog(s, false, verdict.reason, verdict.code);
      // A wrong bearer token is refused; a certificate that names no device stays anonymous.
      if (identity.kind === 'bearer') return s.close(`login refused: ${verdict.reason}`);
      return this.release();
    }
    const { record, level } = verdict;
    const existing = host.router.cids.get(record.cid);
    if (!existing && !claimed && host.claimCid) {
      // Cluster: no local holder, so the CID is claimed cluster-wide first (the holder's node applies the policy).
      void host.claimCid(record.cid).then((claim) => {
        if (s.closed) return;
        if (claim.ok) return s.contain('an identity verdict', () => this.identified(identity, verdict, true));
        host.authLog(s, false, `${verdict.via}: ${claim.reason}`, 'duplicate');
        s.close(claim.reason);
      });
      return;
    }
    if (existing && existing !== s) {
      if (host.options.duplicateLogin === 'keep-old') {
        host.authLog(s, false, `${verdict.via}: duplicate login for cid "${record.cid}" (keep old)`, 'duplicate');
        return s.close(`duplicate login for cid "${record.cid}"`);
      }
      existing.sendPlain(encodeAuthClear('duplicate login.'));
      existing.close(`duplicate login: replaced by #${s.ssid}`);
    }
    s.authorized = true;
    s.did = record.id;
    s.uid = record.uid ?? '';
    host.router.setCid(s, record.cid);
    s.nick = s.cid;
    s.setLevel(level);
    s.sendPlain(encodeQuotaLevel(level));
    host.authLog(s, true, verdict.via);
    host.sessionAdmitted(s, record, level);
    if (record.name) host.router.publish(s, encodeSignal('@$name', PAYLOAD.TEXT, Buffer.from(`${record.name}\0`)), '@$name');
    this.release();
  }

  /** Every check passed except the duplicate one, which needs the CID index as it is now. */
  private admit(req: AuthRequest, record: DeviceRecord, key: Buffer, level: number, legacy: boolean, claimed = false): void {
    const s = this.s;
    const { host } = s;
    const existing = host.router.cids.get(record.cid);
    if (!existing && !claimed && host.claimCid) {
      // Cluster: no local holder, so the CID is claimed cluster-wide first (the holder's node applies the policy).
      void host.claimCid(record.cid).then((claim) => {
        if (s.closed) return;
        if (claim.ok) return s.contain('a login verdict', () => this.admit(req, record, key, level, legacy, true));
        if (s.transport !== 'cong') return this.refuse(claim.reason, legacy, 'duplicate');
        host.authLog(s, false, claim.reason, 'duplicate');
        s.close(claim.reason);
      });
      return;
    }
    if (existing === s) {
      // A repeated login with the same identity: ping (flushes a dead peer) and nothing else, like the reference.
      s.link.probe();
      return this.release();
    }
    if (existing) {
      existing.link.probe();
      if (host.options.duplicateLogin === 'keep-old') {
        if (s.transport === 'cong') {
          // Devices would sit in AUTH_FAIL; closing makes them retry until the old session times out.
          host.authLog(s, false, `duplicate login for cid "${record.cid}" (keep old)`, 'duplicate');
          return s.close(`duplicate login for cid "${record.cid}"`);
        }
        return this.refuse(`duplicate login for cid "${record.cid}" (keep old)`, legacy, 'duplicate');
      }
      // Q21 fix: the old session is told and closed; the new one is kept.
      existing.sendPlain(encodeAuthClear('duplicate login.'));
      existing.close(`duplicate login: replaced by #${s.ssid}`);
    }
    this.boho!.accept(key, req.clientNonce);
    s.authorized = true;
    s.did = req.id;
    s.uid = record.uid ?? '';
    host.router.setCid(s, record.cid);
    s.nick = s.cid;
    s.setLevel(level);
    s.sendPlain(encodeQuotaLevel(level));
    const ack = this.boho!.authRes();
    if (legacy) ack[0] = LEGACY.ACK;
    s.sendPlain(ack);
    s.state = STATE.AUTH_RES;
    host.authLog(s, true, '');
    host.sessionAdmitted(s, record, level);
    s.deliveryChanged(); // encrypted sessions leave the shared native path
    if (record.name) host.router.publish(s, encodeSignal('@$name', PAYLOAD.TEXT, Buffer.from(`${record.name}\0`)), '@$name');
    this.release();
  }
}
