// A connection's login (PROTOCOL.md §4.4, §4.8): the boho session, the hold-and-replay of messages that arrive
// while a login is decided, the duplicate-login policy, and the boho 1.x dialect that the published iosignal 2.x
// clients speak. Made on the first login message, so idle connections stay small. Every promise continuation here
// (key-store look-ups, identity checks, the duplicate-login probe) goes through the containment path (contain.ts).
import { MSG, PAYLOAD, STATE } from '../protocol/codes.js';
import { AUTH_FAIL_MSG, encodeAuthClear, encodeQuotaLevel, encodeSignal } from '../protocol/messages.js';
import { BohoSession, parseAuthReq, type AuthRequest } from '../crypto/boho.js';
import type { DeviceRecord } from '../auth/key-store.js';
import { decideLogin } from './login.js';
import type { LoginFailureReason, LoginTicket } from './login-guard.js';
import { decideIdentity, type IdentityVerdict, type PresentedIdentity } from './identity.js';
import type { LoginPort, Session } from './session.js';
import { HoldQueue } from './hold-queue.js';
import { containAsync } from './contain.js';
import { probeLiveness } from './liveness-probe.js';

/**
 * The boho 1.x login: same layouts and crypto, other codes (client asks with [B0 00], server nonce B1, proof B2,
 * ack B3, fail B4). 5.x clients never send B0 or B2.
 */
export const LEGACY = { NONCE_REQUEST: 0xb0, NONCE: 0xb1, PROOF: 0xb2, ACK: 0xb3, FAIL: 0xb4 } as const;
const LEGACY_FAIL_MSG = Buffer.from([LEGACY.FAIL]);

export class LoginFlow implements LoginPort {
  boho: BohoSession | null = null;
  /** The salt sent to a boho 1.x client (as a 5.x SERVER_TIME_NONCE), once it asked for one. */
  private legacyHello: Buffer | null = null;
  /** Messages that arrived while a login is being decided, replayed after it (§3.1 ordering); bounded. */
  private held: HoldQueue | null = null;
  /** A login is being decided: new messages wait in `held`. */
  holding = false;

  constructor(private readonly s: Session) {}

  hold(msg: Uint8Array): void {
    // Keepalive traffic may pass; everything else waits for the login's outcome.
    if (msg[0] === MSG.PING) return this.s.link.answerPing();
    if (msg[0] === MSG.PONG) return;
    const queue = (this.held ??= new HoldQueue());
    if (!queue.push(msg)) this.s.close(`flooding while a login is checked: more than ${queue.describeBounds()} held`);
  }

  /**
   * Ends a hold: replays what arrived meanwhile, in order, one at a time. A replayed AUTH_REQ starts a new hold,
   * which stops the replay; the rest stays queued, ahead of anything that arrives later. Nothing is copied.
   */
  private release(): void {
    this.holding = false;
    const queue = this.held;
    if (!queue) return;
    // TS cannot see replay changing `holding` and `closed`.
    const stopped = (): boolean => this.holding || this.s.closed;
    while (!stopped()) {
      const msg = queue.shift();
      if (!msg) break;
      this.s.replay(msg);
    }
    if (queue.size === 0 && this.held === queue) this.held = null;
  }

  /** The connection closed: nothing is replayed any more. */
  drop(): void {
    this.held = null;
    this.holding = false;
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
    if (ticket instanceof Promise) return this.throttleAnswer(ticket, (answer) => this.checkKey(req, legacy, answer));
    this.checkKey(req, legacy, ticket);
  }

  /**
   * --workers: the primary keeps the throttle, so its answer comes later; messages are held meanwhile. A ticket
   * for a connection that closed in between goes straight back (no key was checked); one whose connection failed
   * on the way ends as a failure, so the host's ledger never keeps a login pending for a connection that is gone.
   */
  private throttleAnswer(answer: Promise<LoginTicket | LoginFailureReason>, then: (ticket: LoginTicket | LoginFailureReason) => void): void {
    const s = this.s;
    this.holding = true;
    void answer.then((ticket) => {
      if (s.closed) {
        if (typeof ticket !== 'string') ticket.end(true);
        return;
      }
      s.contain('the login throttle', () => then(ticket));
      if (s.closed && typeof ticket !== 'string') ticket.end(false);
    });
  }

  private checkKey(req: AuthRequest, legacy: boolean, ticket: LoginTicket | LoginFailureReason): void {
    const s = this.s;
    if (typeof ticket === 'string') return this.refuse(`login throttled (${ticket})`, legacy, ticket);
    // Both hellos carry the same server nonce, so adopting one never disturbs a running session.
    this.boho ??= new BohoSession();
    this.boho.adoptServerTimeNonce(legacy ? this.legacyHello! : s.hello());
    s.state = STATE.AUTH_REQ;
    this.holding = true;
    // The throttle's ticket ends however the decision ends, an unexpected error included.
    const decided = decideLogin(s.host.keyStore, this.boho, req);
    decided.then((verdict) => ticket.end(verdict.ok), () => ticket.end(false));
    containAsync(s, 'a login verdict', decided, (verdict) => {
      if (!verdict.ok) return this.refuse(verdict.reason, legacy, verdict.code);
      this.admit(req, verdict.record, verdict.key, verdict.level, legacy);
    });
  }

  /** AUTH_FAIL after the configured delay; held messages follow it. */
  private refuse(reason: string, legacy: boolean, code: LoginFailureReason): void {
    const s = this.s;
    s.host.authLog(s, false, reason, code);
    this.holding = true;
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
    if (ticket instanceof Promise) return this.throttleAnswer(ticket, (answer) => this.checkIdentity(identity, answer));
    this.checkIdentity(identity, ticket);
  }

  private checkIdentity(identity: PresentedIdentity, ticket: LoginTicket | LoginFailureReason | null): void {
    const s = this.s;
    const { host } = s;
    if (typeof ticket === 'string') {
      host.authLog(s, false, `bearer login throttled (${ticket})`, ticket);
      return s.close(`login refused: throttled (${ticket})`);
    }
    this.holding = true;
    const decided = decideIdentity(host.keyStore, identity);
    decided.then((verdict) => ticket?.end(verdict.ok), () => ticket?.end(false));
    containAsync(s, 'an identity verdict', decided, (verdict) => this.identified(identity, verdict));
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
      containAsync(s, 'a cluster CID claim', host.claimCid(record.cid), (claim) => {
        if (claim.ok) return this.identified(identity, verdict, true);
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
    }
    s.authorized = true;
    s.did = record.id;
    s.uid = record.uid ?? '';
    host.router.setCid(s, record.cid);
    if (existing && existing !== s) {
      // The CID moved first, so the old connection's close publishes no offline notice.
      existing.sendPlain(encodeAuthClear('duplicate login.'));
      existing.close(`duplicate login: replaced by #${s.ssid}`);
    }
    s.nick = s.cid;
    s.setLevel(level);
    s.sendPlain(encodeQuotaLevel(level));
    host.authLog(s, true, verdict.via);
    host.sessionAdmitted(s, record, level);
    if (record.name) host.router.publish(s, encodeSignal('@$name', PAYLOAD.TEXT, Buffer.from(`${record.name}\0`)), '@$name');
    this.release();
  }

  /**
   * Every check passed except the duplicate one, which needs the CID index as it is now. Under keep-old the old
   * session is probed first (liveness-probe.ts): a silent one is the stale socket of a device that reconnected
   * after a network drop, and is closed; a live one keeps the CID. `stale` is set on the second pass, after the
   * probe: the silent session just torn down (its socket may take a moment to report closed).
   */
  private admit(req: AuthRequest, record: DeviceRecord, key: Buffer, level: number, legacy: boolean, claimed = false, stale: Session | null = null): void {
    const s = this.s;
    const { host } = s;
    const existing = host.router.cids.get(record.cid);
    if (!existing && !claimed && host.claimCid) {
      // Cluster: no local holder, so the CID is claimed cluster-wide first (the holder's node applies the policy).
      containAsync(s, 'a cluster CID claim', host.claimCid(record.cid), (claim) => {
        if (claim.ok) return this.admit(req, record, key, level, legacy, true);
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
    const rival = existing && existing !== stale && !existing.closed ? existing : null;
    if (rival && host.options.duplicateLogin === 'keep-old') {
      if (stale) return this.refuseDuplicate(record.cid, legacy);
      const deadline = host.options.duplicateProbeTimeout;
      containAsync(s, 'the duplicate-login probe', probeLiveness(rival, deadline, s.host.clock), (alive) => {
        if (alive) return this.refuseDuplicate(record.cid, legacy);
        if (!rival.closed) rival.close(`stale session: no answer within ${deadline} ms to the probe of a duplicate login from #${s.ssid}`, 'abort');
        // The index may have changed meanwhile (another login): decide again, without a second probe.
        this.admit(req, record, key, level, legacy, claimed, rival);
      });
      return;
    }
    this.boho!.accept(key, req.clientNonce);
    s.authorized = true;
    s.did = req.id;
    s.uid = record.uid ?? '';
    host.router.setCid(s, record.cid);
    if (rival) {
      // Q21 fix (replace): the old session is told and closed; the new one is kept. The CID moved first, so the
      // old connection's close publishes no offline notice for a device that is online. A ping first, like the
      // reference.
      rival.link.probe();
      rival.sendPlain(encodeAuthClear('duplicate login.'));
      rival.close(`duplicate login: replaced by #${s.ssid}`);
    }
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

  /** keep-old with a live old session: the newcomer is refused. */
  private refuseDuplicate(cid: string, legacy: boolean): void {
    const s = this.s;
    const reason = `duplicate login for cid "${cid}" (keep old: the old session answered the probe)`;
    if (s.transport === 'cong') {
      // Devices would sit in AUTH_FAIL; closing makes them retry (and probe the old session again).
      s.host.authLog(s, false, reason, 'duplicate');
      return s.close(`duplicate login for cid "${cid}"`);
    }
    this.refuse(reason, legacy, 'duplicate');
  }
}
