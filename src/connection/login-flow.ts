// A connection's login (docs/protocol.md §4.4, §4.8): the boho session, the hold-and-replay of messages that arrive
// while a login is decided, the boho 1.x dialect that the published iosignal 2.x clients speak, and identities
// without Boho (a client certificate, a bearer key). Every way in ends in the same duplicate-login rule (the
// broker's claimCid, through `settle`) and the same refusal (after `authFailDelay`). Made on the first login
// message, so idle connections stay small. Every promise continuation here (key-store look-ups, identity checks,
// the throttle under --workers) goes through the containment path (contain.ts).
import { MSG, STATE } from '../protocol/codes.js';
import { AUTH_FAIL_MSG, encodeAuthClear, encodeQuotaLevel } from '../protocol/messages.js';
import { BohoSession, parseAuthReq, type AuthRequest } from '../crypto/boho.js';
import type { DeviceRecord } from '../auth/key-store.js';
import { decideIdentity, decideLogin } from './login.js';
import { expiryDelay, recordOf, type ExternalIdentity } from '../auth/external-identity.js';
import { splitIdKey } from '../crypto/keys.js';
import { tokenThrottleId } from '../auth/credentials.js';
import type { OutsideVerdict } from './port.js';
import type { LoginFailureReason, LoginTicket } from '../guard/login-guard.js';
import type { PresentedIdentity } from '../guard/identity.js';
import { isLoopbackAddress } from '../guard/address.js';
import type { LoginPort, Session } from './session.js';
import { HoldQueue } from './hold-queue.js';
import { containAsync } from './contain.js';

/**
 * The boho 1.x login: same layouts and crypto, other codes (client asks with [B0 00], server nonce B1, proof B2,
 * ack B3, fail B4). 5.x clients never send B0 or B2.
 */
export const LEGACY = { NONCE_REQUEST: 0xb0, NONCE: 0xb1, PROOF: 0xb2, ACK: 0xb3, FAIL: 0xb4 } as const;
const LEGACY_FAIL_MSG = Buffer.from([LEGACY.FAIL]);

/**
 * What a device without Boho is told when its login is refused (a WebSocket close reason on the plain endpoint):
 * the same whatever the cause, so it cannot tell an unknown id from a wrong key. The log has the cause.
 */
export const LOGIN_REFUSED = 'login refused';

/** A login whose proof checked out (a Boho key, a bearer key or a certificate), before the duplicate rule. */
interface ProvenLogin {
  record: DeviceRecord;
  level: number;
  did: string;
  /** For the log: '' for Boho, else how the device was known ('bearer', 'certificate "dev1"'). */
  via: string;
  /** A Boho login: the key and client nonce its session is keyed with, and its dialect. Null without Boho. */
  boho: { key: Buffer; clientNonce: Buffer; legacy: boolean } | null;
  /** A JWT or auth-hook login: its rights, superuser flag and end. */
  outside?: ExternalIdentity;
}

/**
 * How an identity without Boho ended: admitted by an outside source or by the key store, refused (by whom
 * matters for a certificate, which stays anonymous when only the key store does not know it), or judged by nobody.
 */
type IdentityOutcome =
  | { kind: 'outside'; identity: ExternalIdentity }
  | { kind: 'record'; login: ProvenLogin }
  | { kind: 'refuse'; reason: string; code: LoginFailureReason; byStore: boolean }
  | { kind: 'nobody'; reason: string; outsideAsked: boolean };

export class LoginFlow implements LoginPort {
  boho: BohoSession | null = null;
  /** The device and user ids of the login admitted (the session reads them here: sessions without one hold neither). */
  did = '';
  uid = '';
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
    this.s.channel.sendPlain(Buffer.concat([Buffer.from([LEGACY.NONCE]), salt]));
  }

  private start(msg: Uint8Array, legacy: boolean): void {
    const s = this.s;
    const req = parseAuthReq(msg);
    if (!req) return this.refuseBoho('truncated AUTH_REQ', legacy, 'malformed');
    if (legacy && !this.legacyHello) return this.refuseBoho('boho 1.x proof without a nonce', legacy, 'malformed');
    // Brute-force throttle (both dialects): no key check at all once the address or the id is over its limit.
    const ticket = s.port.loginThrottle.begin(s.ip, req.id);
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
    if (typeof ticket === 'string') return this.refuseBoho(`login throttled (${ticket})`, legacy, ticket);
    // Both hellos carry the same server nonce, so adopting one never disturbs a running session.
    this.boho ??= new BohoSession();
    this.boho.adoptServerTimeNonce(legacy ? this.legacyHello! : s.hello());
    s.state = STATE.AUTH_REQ;
    this.holding = true;
    // The throttle's ticket ends however the decision ends, an unexpected error included.
    const decided = decideLogin(s.port.keyStore, this.boho, req);
    decided.then((verdict) => ticket.end(verdict.ok), () => ticket.end(false));
    containAsync(s, 'a login verdict', decided, (verdict) => {
      if (!verdict.ok) return this.refuseBoho(verdict.reason, legacy, verdict.code);
      const { record, key, level } = verdict;
      this.settle({ record, level, did: req.id, via: '', boho: { key, clientNonce: req.clientNonce, legacy } });
    });
  }

  /** Certificate or bearer identity: every message waits until the key store has answered. */
  presentIdentity(identity: PresentedIdentity): void {
    const s = this.s;
    // A bearer key or a token is a key check like AUTH_REQ, so the same brute-force throttle applies.
    const throttled = identity.kind === 'bearer' ? identity.id : identity.kind === 'token' ? tokenThrottleId(identity.token) : null;
    const ticket = throttled !== null ? s.port.loginThrottle.begin(s.ip, throttled) : null;
    if (ticket instanceof Promise) return this.throttleAnswer(ticket, (answer) => this.checkIdentity(identity, answer));
    this.checkIdentity(identity, ticket);
  }

  private checkIdentity(identity: PresentedIdentity, begun: LoginTicket | LoginFailureReason | null): void {
    const s = this.s;
    this.holding = true;
    let ticket: LoginTicket | null = null;
    if (begun !== null) {
      if (typeof begun === 'string') return this.refuseIdentity(`bearer login throttled (${begun})`, begun);
      const cleartext = this.cleartextBearer(identity.kind === 'bearer' ? `bearer key for id "${identity.id}"` : 'bearer token');
      if (cleartext) {
        // A failure for the throttle too, so a flood of them is throttled (and logged within its budget).
        begun.end(false);
        return this.refuseIdentity(cleartext, 'cleartext');
      }
      ticket = begun;
    }
    const decided = this.decideIdentity(identity);
    decided.then((outcome) => ticket?.end(outcome.kind === 'outside' || outcome.kind === 'record'), () => ticket?.end(false));
    containAsync(s, 'an identity verdict', decided, (outcome) => this.identified(identity, outcome));
  }

  /** The outside sources first (a JWT, the auth hook), then the key store (a token of the `<id>.<key>` form too). */
  private async decideIdentity(identity: PresentedIdentity): Promise<IdentityOutcome> {
    const { port } = this.s;
    const outside = port.decideOutside(this.s, identity);
    const verdict: OutsideVerdict | null = outside === null ? null : await outside;
    if (verdict?.kind === 'allow') return { kind: 'outside', identity: verdict.identity };
    if (verdict?.kind === 'refuse') return { kind: 'refuse', reason: verdict.reason, code: verdict.code, byStore: false };
    const asKey = identity.kind === 'token' ? keyForm(identity.token) : identity;
    if (asKey === null) return { kind: 'nobody', reason: verdict?.reason ?? 'a bearer token no login source accepts', outsideAsked: verdict !== null };
    const checked = await decideIdentity(port.keyStore, asKey);
    if (!checked.ok) return { kind: 'refuse', reason: checked.reason, code: checked.code, byStore: true };
    return { kind: 'record', login: { record: checked.record, level: checked.level, did: checked.record.id, via: checked.via, boho: null } };
  }

  /**
   * Why a bearer key may not log in here: it crossed a network in clear (neither TLS, nor X-Forwarded-Proto https
   * from a trusted proxy, nor a client on this host). Null when it may; `allowCleartextBearer` lets it, with a
   * warning the first time.
   */
  private cleartextBearer(what: string): string | null {
    const s = this.s;
    if (s.tls || isLoopbackAddress(s.ip)) return null;
    const warning = `${what} sent over cleartext ws:// from ${s.ip}`;
    if (!s.port.policy.allowCleartextBearer) return `${warning}: refused, use wss:// (or --allow-cleartext-bearer in a lab)`;
    s.port.warnOnce('cleartext-bearer', `warning: ${warning}, accepted under --allow-cleartext-bearer: anyone on the path can read the key (later ones are not logged)`);
    return null;
  }

  /** The sources answered for a certificate, a bearer key or a token. */
  private identified(identity: PresentedIdentity, outcome: IdentityOutcome): void {
    switch (outcome.kind) {
      case 'outside': {
        const { identity: who } = outcome;
        return this.settle({ record: recordOf(who), level: who.level, did: who.did, via: who.via === 'jwt' ? 'jwt' : 'auth hook', boho: null, outside: who });
      }
      case 'record':
        return this.settle(outcome.login);
      case 'refuse':
        // A certificate the key store does not know stays anonymous; every other refusal ends the connection.
        if (identity.kind === 'certificate' && outcome.byStore) {
          this.s.port.refused(this.s, outcome.reason, outcome.code);
          return this.release();
        }
        return this.refuseIdentity(outcome.reason, outcome.code);
      case 'nobody':
        // A token that a configured source passed on, and nothing else accepts, is refused; with no source for
        // tokens at all the device stays anonymous, as before tokens were read.
        if (identity.kind === 'token' && outcome.outsideAsked) return this.refuseIdentity(outcome.reason, 'hook');
        return this.release();
    }
  }

  /** The session ends at its token's (or hook answer's) expiry unless a fresh token moved it (token refresh). */
  private armExpiry(): void {
    const s = this.s;
    const end = s.outside?.expiresAt ?? null;
    if (end === null) return;
    s.later(expiryDelay(end, s.port.clock.now()), () => {
      const now = s.outside?.expiresAt ?? null;
      if (now === null) return;
      if (s.port.clock.now() < now) return this.armExpiry();
      s.port.expired(s);
      s.channel.sendPlain(encodeAuthClear('token expired'));
      s.close('token expired');
    });
  }

  /**
   * Every check has passed but the duplicate-login rule, which the broker applies the same way for every way in
   * (Boho 5.x and 1.x, bearer, certificate; any transport; across nodes): the CID becomes this session's, or the
   * newcomer is refused, or it held the CID already.
   */
  private settle(login: ProvenLogin): void {
    const s = this.s;
    s.port.claimCid(s, login.record.cid, (claim) => {
      if (!claim.ok) return this.refuseDuplicate(login, claim.reason);
      if (claim.held !== true) return this.commit(login);
      // A repeated login with the same identity: ping (flushes a dead peer) and nothing else, like the reference.
      s.link.probe();
      this.release();
    });
  }

  /** The login is admitted (the CID is its own now). */
  private commit(login: ProvenLogin): void {
    const s = this.s;
    const { record, level, boho } = login;
    if (boho) {
      this.boho!.accept(boho.key, boho.clientNonce);
      // The channel owns the session from here: it encrypts with it (§4.7) and opens ENC_488 / ENC_E2E with it.
      s.channel.boho = this.boho;
    }
    s.authorized = true;
    s.outside = login.outside ?? null;
    s.did = login.did;
    s.uid = record.uid ?? '';
    s.nick = s.cid;
    s.setLevel(level);
    s.channel.sendPlain(encodeQuotaLevel(level));
    if (boho) {
      const ack = this.boho!.authRes();
      if (boho.legacy) ack[0] = LEGACY.ACK;
      s.channel.sendPlain(ack);
      s.state = STATE.AUTH_RES;
    }
    if (boho) s.deliveryChanged(); // encrypted sessions leave the shared native path
    s.port.admitted(s, record, level, login.via);
    this.armExpiry();
    this.release();
  }

  /** keep-old with a live old session, or a cluster claim refused: the newcomer is refused. */
  private refuseDuplicate(login: ProvenLogin, reason: string): void {
    const s = this.s;
    if (!login.boho) return this.refuseIdentity(`${login.via}: ${reason}`, 'duplicate');
    if (s.transport === 'cong') {
      // Devices would sit in AUTH_FAIL; closing makes them retry (and probe the old session again).
      s.port.refused(s, reason, 'duplicate');
      return s.close(`duplicate login for cid "${login.record.cid}"`, 'refused');
    }
    this.refuseBoho(reason, login.boho.legacy, 'duplicate');
  }

  /** Every refused login: logged (throttled floods within their budget), answered after `authFailDelay`. */
  private refuse(reason: string, code: LoginFailureReason, answer: () => void): void {
    const s = this.s;
    s.port.refused(s, reason, code);
    this.holding = true;
    s.later(s.port.policy.authFailDelay, answer);
  }

  /** A Boho login: AUTH_FAIL (B4 in the 1.x dialect); held messages follow it. */
  private refuseBoho(reason: string, legacy: boolean, code: LoginFailureReason): void {
    this.refuse(reason, code, () => {
      this.s.state = STATE.AUTH_FAIL;
      this.s.channel.sendPlain(legacy ? LEGACY_FAIL_MSG : AUTH_FAIL_MSG);
      this.release();
    });
  }

  /** A bearer or certificate login: the connection is closed, telling the device only LOGIN_REFUSED. */
  private refuseIdentity(reason: string, code: LoginFailureReason): void {
    this.refuse(reason, code, () => this.s.close(LOGIN_REFUSED, 'refused'));
  }
}

/** A token of iosig's own `<id>.<key>` form, read as a bearer key; null for any other token. */
function keyForm(token: string): PresentedIdentity | null {
  const pair = splitIdKey(token);
  return pair && pair.id !== '' && pair.key !== '' ? { kind: 'bearer', id: pair.id, key: pair.key } : null;
}
