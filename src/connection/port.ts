// What a session may ask of the broker around it: one narrow port, which the broker implements
// (broker/broker.ts), and a frozen policy of the option fields sessions use. A session never sees ServerOptions,
// the router, the registry or another session's internals; the MQTT engine's port (mqtt/port.ts) has the same
// shape of verbs, so both kinds of session can sit on one broker.
import type { Clock } from '../clock.js';
import type { SealPool } from '../crypto/seal-pool.js';
import type { DeviceRecord, KeyStore } from '../auth/key-store.js';
import type { LoginFailureReason, LoginThrottle } from '../guard/login-guard.js';
import type { PresentedIdentity } from '../guard/identity.js';
import type { Stats } from '../metrics/stats.js';
import type { CallRequest } from '../protocol/rpc.js';
import type { ServiceReply } from '../services/service.js';
import type { SlowConsumerWatch } from './slow-consumer.js';
import type { QuotaSwitches } from '../policies.js';
import type { ExternalIdentity } from '../auth/external-identity.js';
import type { TrafficRates } from '../guard/rate-spec.js';

/** The option fields sessions read, resolved once and frozen (broker/policy.ts). */
export interface SessionPolicy {
  /** Quota level of a session that has not logged in. */
  readonly defaultQuotaLevel: number;
  /** The level that makes a session an administrator. */
  readonly adminLevel: number;
  /** `-s message`: every received message and text frame is logged. */
  readonly showMessages: boolean;
  /** Which quotas of a session's level are enforced (§8.2). */
  readonly useQuota: Readonly<QuotaSwitches>;
  /** Bytes that may wait behind a message being sealed or opened in the seal pool (max-backpressure + max-message). */
  readonly sealWaitLimit: number;
  /** Delay before AUTH_FAIL, and before a refused bearer or certificate login is closed (ms). */
  readonly authFailDelay: number;
  /** A bearer key over cleartext ws:// from another host is accepted (labs only). */
  readonly allowCleartextBearer: boolean;
}

/** Who a new session is, as the broker resolved it at its door (the client address behind trusted proxies). */
export interface SessionPeer {
  readonly ssid: number;
  readonly ip: string;
  /** The transport is TLS, or a trusted proxy says the client came over https. */
  readonly tls: boolean;
  /** A verified client certificate or a bearer token: the device is known before it says anything. */
  readonly identity?: PresentedIdentity | undefined;
  /** The device id a verified client certificate names, when a token is the identity (PeerInfo.certificate). */
  readonly certificate?: string | undefined;
  /** Its client declared an io-serial bridge at the upgrade (`X-Iosig-Device: serial`). */
  readonly serial?: boolean | undefined;
}

/** How a claim of a login's CID ended (the duplicate-login rule, broker/cid-claims.ts). */
export type CidClaim =
  /** The CID is the session's now (an old session under `replace` was told and closed). */
  | { readonly ok: true; readonly held?: false }
  /** The session held it already: a repeated login with the same identity (nothing more to do). */
  | { readonly ok: true; readonly held: true }
  /** Refused: a live old session under `keep-old`, or another node's refusal. */
  | { readonly ok: false; readonly reason: string };

/** What an outside login source (a JWT, the auth hook) says of what a device presented (issue 18). */
export type OutsideVerdict =
  | { readonly kind: 'allow'; readonly identity: ExternalIdentity }
  | { readonly kind: 'refuse'; readonly reason: string; readonly code: LoginFailureReason }
  /** Not its to decide: the key store judges it next (then the session stays anonymous). */
  | { readonly kind: 'ignore'; readonly reason: string };

/** `S`: the broker's session type. */
export interface SessionPort<S> {
  readonly policy: SessionPolicy;
  /** The broker's counters (messages in, bytes, drops, quota violations...). */
  readonly stats: Stats;
  /** Time for the AUTH_FAIL delay, the quota buckets and the probes (options.clock). */
  readonly clock: Clock;
  /** Seals and opens large encrypted messages off the event loop. */
  readonly sealPool: SealPool;
  /** Device keys; null when authentication is off. */
  readonly keyStore: KeyStore | null;
  /** The brute-force throttle every key check passes first. */
  readonly loginThrottle: LoginThrottle;
  /** Times receivers that are behind, and carries out the slow-consumer policy. */
  readonly watch: SlowConsumerWatch;
  /** Bumped whenever the rates the rules give may have changed (a reload): sessions make their buckets again. */
  readonly rateGeneration: number;

  // ---- the verbs of the protocol --------------------------------------------------------------

  /** SUBSCRIBE / SUBSCRIBE_REQ: every comma-separated tag; returns how many a cap refused. */
  subscribe(session: S, tags: string): number;
  /** UNSUBSCRIBE: the listed tags, or every channel (null). */
  unsubscribe(session: S, tags: string | null): void;
  /** SIGNAL / SIGNAL_E2E with `tag`, published by `session` (it is the publisher its receivers are told of). */
  publish(session: S, msg: Uint8Array, tag: string): void;
  /** CID_REQ of a session without a CID: an anonymous one, unique wherever CIDs are held. */
  anonymousCid(session: S): string;
  /**
   * An admitted login wants `cid`: the duplicate-login rule, across nodes in a cluster. `then` runs at once when
   * the rule can decide now (so two logins in one turn cannot both take a CID), else later through the session's
   * containment.
   */
  claimCid(session: S, cid: string, then: (claim: CidClaim) => void): void;
  /** The channels `session` subscribes to, in subscription order (IAM_RES). */
  channelsOf(session: S): string[];
  /** CALL: runs through the attached services; never rejects. */
  call(session: S, req: CallRequest): Promise<ServiceReply>;
  /** Its delivery needs changed (encryption on, drained, over its limit): subscriptions move between groups. */
  deliveryChanged(session: S): void;

  // ---- what the session tells the broker --------------------------------------------------------

  /** A login was admitted with `record` at `level` (`via`: '' for Boho, else how the device was known). */
  admitted(session: S, record: DeviceRecord, level: number, via: string): void;
  /** The message and byte rates `session` runs under (`--quota trafficRate`): an ACL rate line, --level-rate, the table. */
  ratesOf(session: S): TrafficRates;
  /** JWT and auth-hook logins: the verdict on what `session` presented; null when no outside source judges it. */
  decideOutside(session: S, identity: PresentedIdentity): Promise<OutsideVerdict> | null;
  /** The session reached the end its token (or hook answer) gave it and is being closed. */
  expired(session: S): void;
  /** A login was refused (never the key); `code` classifies it for the metrics. */
  refused(session: S, reason: string, code: LoginFailureReason): void;
  /** The session is gone (its link closed); called once. */
  closed(session: S): void;
  /** A WebSocket text frame (for observers only). */
  text(session: S, text: string): void;
  /** Garbage received before the session had a CID (the attack log). */
  attack(session: S, reason: string, bytes: Uint8Array): void;
  /** The operational log. */
  log(line: string): void;
  /** Writes `line` the first time a warning about `topic` comes up, never again in this process. */
  warnOnce(topic: string, line: string): void;
}
