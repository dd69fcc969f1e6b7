// The session as its message handlers, its login flow and the broker see it. Interfaces only: connection.ts
// implements Session; handlers import this file, never connection.ts. The broker is reached through the port
// (port.ts), the way out through the secure channel (secure-channel.ts).
import type { Subscriber } from '../router/channel.js';
import type { Caller } from '../services/service.js';
import type { Quota, StateCode } from '../protocol/codes.js';
import type { CloseHow, Link, TransportKind } from '../transport/link.js';
import type { Probeable } from '../guard/duplicate-login.js';
import type { DeferredContained } from './contain.js';
import type { SecureChannel } from './secure-channel.js';
import type { SessionPort } from './port.js';
import type { TagMemo } from './tag-memo.js';
import type { ExternalIdentity } from '../auth/external-identity.js';

/** The login messages a connection hands to its login flow (§4.4, §4.8). */
export interface LoginPort {
  /** True while a login is being decided: messages are held, then replayed in order. */
  readonly holding: boolean;
  /** Holds one message during a login (keepalive passes); a client over the hold's bound is closed. */
  hold(msg: Uint8Array): void;
  authReq(msg: Uint8Array): void;
  legacyNonceRequest(): void;
  legacyProof(msg: Uint8Array): void;
}

export interface Session extends Subscriber, Caller, DeferredContained, Probeable {
  /** The broker, as far as a session may reach it. */
  readonly port: SessionPort<Session>;
  readonly link: Link;
  readonly transport: TransportKind;
  readonly tls: boolean;
  state: StateCode;
  cid: string;
  did: string;
  uid: string;
  nick: string;
  level: number;
  quota: Quota;
  authorized: boolean;
  admin: boolean;
  readonly closed: boolean;
  readonly login: LoginPort;
  /** The way out: sendPlain (never encrypted), sendEligible (the encryption rule of §4.7), the Boho session. */
  readonly channel: SecureChannel;
  /** An io-serial bridge declares itself (session-state.ts): the kind the status API and the dashboard show. */
  declareSerial(on: boolean, nick: boolean): void;
  /** Who an outside source (JWT, auth hook) says it is, with its rights and the end of its session; else null. */
  outside: ExternalIdentity | null;
  /** The tags of its recent SIGNALs (made by the first one). */
  tagMemo: TagMemo | null;
  /** A message this connection could not use: counted, and logged under `-s message`. */
  bad(what: string): void;
  /** A log line about this connection. */
  report(what: string): void;
  /** The one way a connection ends; the link reports back once, through `linkClosed`. */
  close(reason: string, how?: CloseHow, bytes?: Uint8Array): void;
  /** Dispatches a message that came out of an ENC_488 envelope (no second envelope allowed). */
  dispatchInner(msg: Uint8Array): void;
  /** Dispatches a message held during a login, as if it arrived now. */
  replay(msg: Uint8Array): void;
  /** A new quota level (login): quota, admin flag, rate bucket. */
  setLevel(level: number): void;
  /** The session's delivery needs changed (encryption on): subscriptions move between groups. */
  deliveryChanged(): void;
  /** A timer that dies with the connection (run through `contain`). */
  later(ms: number, fn: () => void): void;
  /**
   * Runs connection code that was deferred (a promise callback): nothing once closed, and an exception closes
   * this connection only. Every asynchronous continuation of connection code goes through here.
   */
  contain(what: string, fn: () => void): void;
  /** The SERVER_TIME_NONCE this connection was greeted with. */
  hello(): Buffer;
}
