// The connection as its message handlers, its login flow and other connections see it, and the narrow host it
// reaches the broker through (instead of a service locator). Interfaces only: connection.ts implements Session,
// the server implements ConnectionHost; handlers import this file, never connection.ts.
import type { ServerOptions } from '../options.js';
import type { Stats } from '../metrics/stats.js';
import type { Router } from '../router/router.js';
import type { Subscriber } from '../router/channel.js';
import type { DeviceRecord, KeyStore } from '../auth/key-store.js';
import type { Caller, ServiceReply } from '../services/service.js';
import type { CallRequest } from '../protocol/rpc.js';
import type { IamInfo } from '../protocol/messages.js';
import type { Quota, StateCode } from '../protocol/codes.js';
import type { CloseHow, Link, TransportKind } from '../transport/link.js';
import type { ProxyTrust } from '../guard/address.js';
import type { LoginFailureReason, LoginThrottle } from '../guard/login-guard.js';
import type { SealPool } from '../crypto/seal-pool.js';
import type { SecureChannel } from './secure-channel.js';
import type { DeferredContained } from './contain.js';
import type { Probeable } from './liveness-probe.js';
import type { Clock } from '../clock.js';
import type { SlowConsumers } from '../delivery/slow-consumers.js';
import type { ThrottledLog } from '../logging/throttled-log.js';

/** What a connection may reach of the broker around it. `S`: the connection type the broker keeps. */
export interface ConnectionHost<S extends Session = Session> {
  readonly options: ServerOptions;
  readonly stats: Stats;
  readonly router: Router<S>;
  readonly proxyTrust: ProxyTrust;
  /** Device keys; null when authentication is off. */
  readonly keyStore: KeyStore | null;
  /** Brute-force throttle every AUTH_REQ passes before its key is checked. */
  readonly loginGuard: LoginThrottle;
  /** Times receivers that are behind and carries out the slow-consumer policy (slow-consumers.ts). */
  readonly slowConsumers: SlowConsumers;
  /** One line a second about slow consumers closed, however many go at once. */
  readonly slowConsumerLog: ThrottledLog;
  /** Seals and opens large encrypted messages off the event loop. */
  readonly sealPool: SealPool;
  /** Time for the AUTH_FAIL delay, the quota buckets and the liveness probe (options.clock). */
  readonly clock: Clock;
  nextSsid(): number;
  /** Operational log (connection errors, closes with reasons). */
  log(line: string): void;
  /** Runs a CALL through the attached services; never rejects. */
  call(caller: Caller, req: CallRequest): Promise<ServiceReply>;
  /** A WebSocket text frame (observers only). */
  textMessage(session: S, text: string): void;
  /** The connection is gone; called once. */
  sessionClosed(session: S): void;
  /** Observers of published signals (dashboard tail); a no-op unless someone listens. */
  tapSignal(session: S, tag: string, msg: Uint8Array): void;
  /** One login outcome for the auth log (never the key); `code` classifies a failure for the metrics. */
  authLog(session: S, ok: boolean, reason: string, code?: LoginFailureReason): void;
  /** Writes `line` the first time a warning about `topic` comes up, never again in this process. */
  warnOnce(topic: string, line: string): void;
  /** A login was admitted with this record (revocation compares the key store against it later). */
  sessionAdmitted(session: S, record: DeviceRecord, level: number): void;
  /** Garbage received before the connection had a CID. */
  attackLog(session: S, reason: string, bytes: Uint8Array): void;
  /**
   * Cluster only: a login wants `cid`, which no local session holds; resolves once it is claimed cluster-wide
   * (or refused under the duplicate-login policy, applied by the holder's node). Absent on a single node.
   */
  claimCid?(cid: string): Promise<{ ok: true } | { ok: false; reason: string }>;
}

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
  readonly host: ConnectionHost;
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
  /** Tag of a SIGNAL / SIGNAL_E2E (null when malformed); a repeated tag comes back as the same string. */
  signalTag(msg: Uint8Array): string | null;
  /** Publishes a SIGNAL / SIGNAL_E2E as this connection (membersOnly, tap, router). */
  publish(msg: Uint8Array, tag: string): void;
  /** The IAM_RES object (§3.8). */
  iam(): IamInfo;
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
