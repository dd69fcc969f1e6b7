// The broker core: the registry of sessions, the router, one Stats, the events tap, the log sink, the
// slow-consumer watch, the door, the key store and the services. Sessions reach it through the session port
// (connection/port.ts), transports through `accept` and the door, services through ServiceHost, the HTTP layer
// through BrokerView (views.ts), a cluster through cluster-side.ts. server.ts wires it to the listeners.
import { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../clock.js';
import { PAYLOAD, STATUS } from '../protocol/codes.js';
import { encodeAuthClear, encodeServerSignal, encodeSignal } from '../protocol/messages.js';
import type { CallRequest } from '../protocol/rpc.js';
import { SealPool } from '../crypto/seal-pool.js';
import type { DeviceRecord, KeyStore } from '../auth/key-store.js';
import { openKeyStore } from '../auth/index.js';
import { DEFAULT_AUDIT_LIMITS, SessionAudit, hasReload, notifyChanges } from '../auth/session-audit.js';
import type { ReloadResult } from '../auth/key-store.js';
import { LoginGuard, type LoginFailureReason, type LoginThrottle } from '../guard/login-guard.js';
import { ProxyTrust } from '../guard/address.js';
import { Stats } from '../metrics/stats.js';
import { Outbound, SERVER } from '../delivery/outbound.js';
import { Router } from '../router/router.js';
import { ServiceRegistry } from '../services/registry.js';
import type { Caller, Service, ServiceHost, ServiceReply } from '../services/service.js';
import type { DurableHost, HistoryPosition } from '../services/durable-host.js';
import { createHistoryService } from '../services/history.js';
import { channelKey } from '../router/tags.js';
import type { Link, PeerInfo } from '../transport/link.js';
import { Connection } from '../connection/connection.js';
import { runContained } from '../connection/contain.js';
import type { CidClaim, SessionPolicy, SessionPort } from '../connection/port.js';
import type { ChannelInfo, ConnectionInfo } from '../info.js';
import type { SignalInfo } from '../server-view.js';
import type { ServerOptions } from '../options.js';
import { claimCid, claimCidOutside, type ClaimRules, type ClusterClaim } from './cid-claims.js';
import { describeChannel, describeSession } from './describe.js';
import { Door } from './door.js';
import { LogSink } from './log-sink.js';
import { sessionPolicy } from './policy.js';
import { Registry } from './registry.js';
import { SlowConsumers } from './slow-consumers.js';
import type { ClusterSample } from '../metrics/cluster-sample.js';
import { BrokerAccess, tagOfKey } from './access.js';
import { OutsideLogins } from './outside-logins.js';
import type { PresentedIdentity } from '../guard/identity.js';
import type { OutsideVerdict } from '../connection/port.js';
import { ratesFor } from '../guard/rate-limits.js';
import type { TrafficRates } from '../guard/rate-spec.js';
import { hasRules } from '../access/access-options.js';
import { accessCheck, type AccessCheck } from '../access/check.js';
import { AccessControl } from '../access/engine.js';
import { Durability } from './durability.js';
import { packageVersion } from '../cli/version.js';

/** Payload bytes of a published signal shown to observers ('signal' events, the dashboard's tail). */
const SIGNAL_TAP_BYTES = 256;
const CLOSE_TEXT = Buffer.from('close\0');

/**
 * What the broker asks of its cluster membership (cluster/broker-cluster.ts is one): the other half of the
 * boundary is what the cluster asks of the broker (ClusterPort, which cluster-side.ts implements).
 */
export interface ClusterMembership {
  /** The first local subscriber of `key` joined (`present`) or the last one left. */
  interest(key: string, present: boolean): void;
  /** A local connection took (`held`) or released `cid`. */
  cidHeld(cid: string, held: boolean): void;
  /** A unicast (already retagged `@topic`) to `cid`, held by no local connection. */
  unicast(cid: string, out: Outbound): void;
  /** A fresh anonymous CID candidate from this node's part of the cluster's CID space. */
  anonymousCid(): string;
  /** A login wants `cid`, held by no local session: the node holding it applies the duplicate-login rule. */
  claimLogin(cid: string): Promise<ClusterClaim>;
  /** A message for every connection of every other node. */
  everyone(msg: Uint8Array): void;
  /** Every CID online on any node, sorted; null when the cluster cannot be asked. */
  allCids(): Promise<string[] | null>;
  /** For /metrics, /api/status and the dashboard. */
  sample(): ClusterSample;
  close(): Promise<void>;
}

export class Broker implements SessionPort<Connection>, ServiceHost {
  readonly options: ServerOptions;
  readonly policy: SessionPolicy;
  readonly stats = new Stats();
  readonly router: Router<Connection>;
  readonly registry = new Registry<Connection>();
  /** 'text_message' (ConnectionInfo, text), 'connection' / 'disconnect' (ConnectionInfo), 'signal' (SignalInfo). */
  readonly events = new EventEmitter();
  /** options.clock: the system clock unless a test passed its own. */
  readonly clock: Clock;
  readonly sealPool: SealPool;
  readonly watch: SlowConsumers;
  readonly door: Door;
  /** The brute-force throttle: this process's own, or under --workers the primary's for the whole host. */
  readonly loginThrottle: LoginThrottle;
  readonly services = new ServiceRegistry();
  readonly logs: LogSink;
  keyStore: KeyStore | null = null;
  /** Access rules and session rights (issue 18); null when none is configured: every check is skipped. */
  readonly access: BrokerAccess | null;
  /**
   * The access decision for sessions that are not connections here (the MQTT engine): `(identity, action,
   * channel) → allowed`, and `.filter()` for a SUBACK. Allows everything when no rules are configured.
   */
  readonly accessCheck: AccessCheck;
  /** JWT and auth-hook logins; null when neither is configured. */
  readonly outside: OutsideLogins | null;
  /** Retained values and histories kept across restarts, positioned readers (docs/durability.md). */
  readonly durability: Durability;
  /** Set only in a cluster: sudo `cid` lists every node's CIDs. */
  clusterCids?: ServiceHost['clusterCids'];
  private readonly audit: SessionAudit;
  private readonly claims: ClaimRules;
  private cluster: ClusterMembership | null = null;
  private sweepTimer: Timer | null = null;

  constructor(options: ServerOptions, services: readonly Service[] = []) {
    this.options = options;
    this.policy = sessionPolicy(options);
    this.clock = options.clock;
    for (const service of services) this.services.attach(service);
    // Positioned reading is how clients use the histories `--history` keeps: attached with them.
    if (options.history.length > 0 && !services.some((s) => s.name === 'history')) this.services.attach(createHistoryService());
    this.router = new Router(options, this.stats);
    this.durability = new Durability(this.router, options);
    this.durability.readers.connect((conn: Connection, frame) => conn.channel.sendEligible(frame), options.maxSubscriptionsPerConnection);
    this.loginThrottle = options.primary ?? new LoginGuard(options.loginLimits, this.clock);
    this.logs = new LogSink(options.log, this.loginThrottle, this.clock);
    const { sealThreads, sealAsyncFrom } = options;
    this.sealPool = new SealPool({ threads: sealThreads, asyncFrom: sealAsyncFrom, log: (line) => this.log(line) });
    this.door = new Door(options, new ProxyTrust(options.trustedProxies), options.primary, this.stats, this.clock, options.access.connectionRates);
    this.watch = new SlowConsumers(options, this.clock, (line) => this.log(line));
    this.audit = new SessionAudit(() => this.keyStore, { ...DEFAULT_AUDIT_LIMITS, pollMs: options.sessionAuditMs });
    this.claims = {
      duplicateLogin: options.duplicateLogin,
      duplicateProbeTimeout: options.duplicateProbeTimeout,
      clock: this.clock,
      claimAcross: options.cluster ? (cid) => this.cluster?.claimLogin(cid) ?? Promise.resolve({ ok: true }) : null,
    };
    if (options.cluster) this.clusterCids = () => this.cluster?.allCids() ?? Promise.resolve(null);
    const a = options.access;
    this.outside = a.jwt !== null || a.authHook !== null ? new OutsideLogins(a, (line) => this.log(line)) : null;
    this.access = hasRules(a) || a.jwt !== null || a.authHook !== null ? new BrokerAccess(a, (line) => this.log(line), this.stats.aclDenials) : null;
    this.accessCheck = this.access ? accessCheck(this.access.engine, this.access.denials) : accessCheck(new AccessControl());
  }

  // ---- start and stop ------------------------------------------------------------------------

  /** This node's part in a cluster; joined before any listener, so every CID and subscription is seen by it. */
  join(cluster: ClusterMembership): void {
    this.cluster = cluster;
  }

  /**
   * The durable store read back (throws a StoreOpenError naming the file and the way out), the key store and the
   * `-f` logs, before any session can log in.
   */
  async open(): Promise<void> {
    if (this.access) {
      await this.access.open();
      this.stats.aclRules = this.access.ruleCount ?? -1;
      const rateLines = (this.access.engine.ruleSet?.rates.length ?? 0) > 0;
      if ((rateLines || this.options.access.levelRates.size > 0) && !this.options.useQuota.trafficRate) {
        this.log('warning: rates are set (--level-rate or ACL rate lines) but not enforced: add --quota trafficRate');
      }
      // A rule change reaches every live session at once: its subscriptions the rules now deny end, with a notice.
      this.access.onChange(() => {
        this.stats.aclRules = this.access?.ruleCount ?? -1;
        this.stats.aclReloads++;
        for (const conn of this.registry.sessions) runContained(conn, 'applying new access rules', () => this.recheckAccess(conn, 'access rules changed'));
      });
    }
    await this.durability.open(packageVersion());
    if (this.options.auth) {
      const store = await openKeyStore(this.options.auth, (line) => this.log(line));
      this.keyStore = store;
      // Revocation: our own writes and reloads re-check live sessions; Redis can change behind us, so it is polled.
      if (store) notifyChanges(store, () => void this.audit.changed());
      if (store?.kind === 'redis') this.audit.startPolling();
    }
    if (this.options.fileLogDir) this.logs.openFiles(this.options.fileLogDir);
  }

  /** The keepalive sweep (§1.3). */
  startSweep(): void {
    this.sweepTimer = this.clock.every(this.options.timeout, () => this.registry.sweep(this.stats));
  }

  /** Nobody new comes in, timers stop, and every session is closed (the listeners close around this). */
  closeSessions(): void {
    this.door.closing = true;
    // Sessions closed by the shutdown keep their CID-retained values in the store (a restart is not their close).
    this.durability.stop();
    this.sweepTimer?.cancel();
    this.sweepTimer = null;
    this.watch.close();
    this.audit.close();
    for (const conn of [...this.registry.sessions]) conn.close('server closing', 'shutdown');
  }

  async close(): Promise<void> {
    await this.access?.close();
    // Everything handed over is flushed and the store marked cleanly closed (before the cluster's Redis goes).
    await this.durability.close();
    await this.cluster?.close();
    await this.services.close();
    await this.keyStore?.close();
    this.keyStore = null;
    await this.logs.close();
    await this.sealPool.close();
  }

  // ---- sessions in and out ------------------------------------------------------------------

  /** A transport's new link: a session, counted at the door, registered and logged. */
  readonly accept = (link: Link, peer: PeerInfo): Connection => {
    const { door } = this;
    const conn = new Connection(this, link, { ssid: this.registry.nextSsid(), ip: door.ipOf(peer), tls: door.tlsOf(peer), identity: peer.identity, certificate: peer.certificate, serial: peer.device === 'serial' });
    this.door.entered(conn, peer.counted);
    this.registry.add(conn);
    this.logs.opened(conn);
    if (this.events.listenerCount('connection') > 0) this.events.emit('connection', this.describe(conn));
    return conn;
  };

  /**
   * The link is gone: close notices (§5.8) unless another session holds the CID now (a replaced duplicate login:
   * the device is online), the session ends, and it is forgotten everywhere. Its own subscriptions are left in
   * slices by router.forget; its link is closed, so it gets nothing meanwhile.
   */
  closed(conn: Connection): void {
    const { router } = this;
    const holdsCid = !conn.cid || router.cids.get(conn.cid) === conn;
    if (holdsCid && !conn.quietClose && !(this.options.membersOnly && !conn.authorized)) {
      runContained(conn, 'in the close notices', () => {
        router.publish(conn, encodeSignal('@state', PAYLOAD.TEXT, CLOSE_TEXT), '@state');
        router.publish(conn, encodeSignal('@$state', PAYLOAD.TEXT, CLOSE_TEXT), '@$state');
      });
    }
    conn.end();
    this.watch.forget(conn.channel);
    this.durability.readers.forget(conn);
    runContained(conn, 'forgetting a closed connection', () => router.forget(conn));
    runContained(conn, 'reporting a closed connection', () => this.forget(conn));
  }

  private forget(conn: Connection): void {
    if (conn.authorized) this.audit.ended(conn.ssid);
    if (this.registry.delete(conn)) this.door.left(conn);
    this.logs.closed(conn);
    if (this.events.listenerCount('disconnect') > 0) this.events.emit('disconnect', this.describe(conn));
  }

  readonly describe = (conn: Connection): ConnectionInfo => describeSession(this.router, conn);

  // ---- the session port: the verbs ----------------------------------------------------------

  subscribe(conn: Connection, tags: string): number {
    const { access } = this;
    if (!access) return this.router.subscribe(conn, tags);
    // Denied tags are never joined, so nothing is replayed from them (channel- or CID-retained, local or remote).
    const { allowed, denied } = access.subscribeTags(conn, tags);
    if (denied.length > 0) conn.link.accessDenied?.(`subscribe ${denied.join(',')}`);
    return (allowed.length > 0 ? this.router.subscribe(conn, allowed.join(',')) : 0) + denied.length;
  }

  unsubscribe(conn: Connection, tags: string | null): void {
    if (tags === null) this.router.unsubscribeAll(conn);
    else this.router.unsubscribe(conn, tags);
  }

  /** A session publishes: members-only (§5.9), the observers' tap, the router. */
  publish(conn: Connection, msg: Uint8Array, tag: string): void {
    if (this.options.membersOnly && !conn.authorized) {
      // §5.9: anonymous publish under membersOnly → AUTH_CLEAR and close.
      conn.channel.sendPlain(encodeAuthClear());
      conn.close('membersOnly: publish without login');
      return;
    }
    let keep = true;
    if (this.access) {
      const verdict = this.access.publish(conn, tag);
      if (verdict === 'denied') return conn.link.accessDenied?.(`publish ${tag}`);
      keep = verdict === 'ok';
    }
    if (this.events.listenerCount('signal') > 0) this.tap(conn, tag, msg);
    const result = this.router.publish(conn, msg, tag, keep);
    if (!result.ok && (result.reason === 'reserved' || result.reason === 'tag-too-long')) conn.bad(`publish ${result.reason}`);
  }

  private tap(conn: Connection, tag: string, msg: Uint8Array): void {
    const info: SignalInfo = {
      time: Date.now(),
      from: conn.cid,
      tag,
      payloadType: msg[2 + msg[1]!]!,
      size: msg.length,
      payload: Buffer.from(msg.subarray(3 + msg[1]!, 3 + msg[1]! + SIGNAL_TAP_BYTES)),
    };
    this.events.emit('signal', info);
  }

  anonymousCid(conn: Connection): string {
    const cid = this.router.assignAnonymousCid(conn);
    this.access?.identityChanged(conn);
    return cid;
  }

  /** An MQTT client logging in as a device whose CID a local session holds: the same rule (false: refused). */
  claimCidOutside(cid: string, who: string): Promise<boolean> {
    return claimCidOutside(this.claims, this.router, cid, who);
  }

  claimCid(conn: Connection, cid: string, then: (claim: CidClaim) => void): void {
    claimCid(this.claims, this.router, conn, cid, then);
  }

  channelsOf(conn: Connection): string[] {
    return [...this.router.subscriptionsOf(conn).keys()];
  }

  call(conn: Connection, req: CallRequest): Promise<ServiceReply> {
    if (req.target === 'token' && req.topic === 'refresh' && this.outside?.jwt) return this.refreshToken(conn, req.args[0]);
    if (this.access && !this.access.call(conn, req.target, req.topic)) return Promise.resolve({ status: STATUS.ERROR, body: 'NO_PERMISSION.' });
    return this.services.call(conn, req, this);
  }

  /**
   * CALL `token refresh <jwt>`: a fresh token for the same device and CID moves the session's end and replaces its
   * rights (its subscriptions are checked against them at once).
   */
  private async refreshToken(conn: Connection, token: unknown): Promise<ServiceReply> {
    if (typeof token !== 'string') return { status: STATUS.ERROR, body: 'token refresh <jwt>' };
    const result = await this.outside!.refresh(conn.outside, token);
    if (!result.ok) {
      conn.report(`token refresh refused: ${result.reason}`);
      return { status: STATUS.ERROR, body: 'token refused' };
    }
    if (conn.closed) return { status: STATUS.ERROR, body: 'closed' };
    conn.outside = result.identity;
    if (this.access) {
      this.access.identityChanged(conn);
      this.recheckAccess(conn, 'new token');
    }
    return { status: STATUS.OK, body: result.identity.expiresAt === null ? 'ok' : new Date(result.identity.expiresAt).toISOString() };
  }

  /**
   * The rules (or who the session is) changed: its subscriptions they no longer allow end, and it is told which
   * (SERVER_SIGNAL `{"event":"access","data":{"unsubscribed":[tags],"reason":…}}`; a plain JSON device: ERROR).
   */
  recheckAccess(conn: Connection, reason: string): void {
    const { access } = this;
    if (!access || conn.closed) return;
    const subscriptions = this.router.subscriptionsOf(conn);
    // Positioned (history) subscriptions read the same channels, so the same rules end them (issue 18).
    const positioned = this.durability.readers.keysOf(conn);
    if (subscriptions.size === 0 && positioned.length === 0) return;
    const denied = subscriptions.size === 0 ? [] : access.deniedSubscriptions(conn, subscriptions.keys());
    const deniedPositioned = positioned.length === 0 ? [] : access.deniedSubscriptions(conn, positioned);
    if (denied.length === 0 && deniedPositioned.length === 0) return;
    for (const key of deniedPositioned) this.durability.readers.remove(conn, key);
    if (denied.length > 0) this.router.unsubscribe(conn, denied.map((key) => tagOfKey(key, conn.home)).join(','));
    const tags = [...new Set([...denied, ...deniedPositioned])].map((key) => tagOfKey(key, conn.home));
    this.stats.aclRevokedSubscriptions += denied.length + deniedPositioned.length;
    conn.report(`access: ${tags.length} subscriptions ended (${reason})`);
    conn.channel.sendEligible(encodeServerSignal(JSON.stringify({ event: 'access', data: { unsubscribed: tags, reason } })));
    conn.link.accessDenied?.(`unsubscribed ${tags.join(',')}: ${reason}`);
  }

  deliveryChanged(conn: Connection): void {
    this.router.refreshDelivery(conn);
  }

  // ---- the session port: what sessions tell ------------------------------------------------

  admitted(conn: Connection, record: DeviceRecord, level: number, via: string): void {
    this.stats.authOk++;
    if (this.access) {
      this.access.identityChanged(conn);
      this.recheckAccess(conn, 'logged in');
    }
    this.logs.login(conn, true, via, null);
    this.audit.admitted(conn, record, level);
    this.durability.loggedIn(conn);
    if (record.name) this.router.publish(conn, encodeSignal('@$name', PAYLOAD.TEXT, Buffer.from(`${record.name}\0`)), '@$name');
  }

  get rateGeneration(): number {
    return this.access?.engine.generation ?? 0;
  }

  ratesOf(conn: Connection): TrafficRates {
    const fromRules = this.access?.configured ? this.access.engine.rateFor(this.access.subjectOf(conn)) : null;
    return ratesFor(conn.level, this.options.access.levelRates, fromRules);
  }

  decideOutside(conn: Connection, identity: PresentedIdentity): Promise<OutsideVerdict> | null {
    return this.outside?.decide(conn, identity) ?? null;
  }

  expired(conn: Connection): void {
    this.stats.sessionsExpired++;
    conn.report(`session ended: its ${conn.outside?.via === 'hook' ? 'auth hook answer' : 'token'} expired`);
  }

  refused(conn: Connection, reason: string, code: LoginFailureReason): void {
    this.stats.authFail++;
    this.stats.authFailByReason[code]++;
    this.logs.login(conn, false, reason, code);
  }

  text(conn: Connection, text: string): void {
    if (this.events.listenerCount('text_message') > 0) this.events.emit('text_message', this.describe(conn), text);
  }

  attack(conn: Connection, reason: string, bytes: Uint8Array): void {
    this.logs.attack(conn, reason, bytes);
  }

  log(line: string): void {
    this.options.log(line);
  }

  warnOnce(topic: string, line: string): void {
    this.logs.warnOnce(topic, line);
  }

  // ---- the server's own messages --------------------------------------------------------------

  /**
   * A SIGNAL from the server: to a channel (`name`), one device (`cid@topic`, delivered as `@topic`), or
   * with `everyone`, to every connection as is. Returns the number of receivers.
   */
  sendSignal(tag: string, payloadType: number, payload: Uint8Array, everyone = false): number {
    const msg = encodeSignal(tag, payloadType, payload);
    if (everyone) return this.broadcast(msg);
    const result = this.router.publishFromServer(msg, tag);
    return result.ok ? result.delivered : 0;
  }

  /** One message to every connection of the cluster as is (sealed per encrypted session); returns local receivers. */
  broadcast(msg: Uint8Array): number {
    this.cluster?.everyone(msg);
    return this.broadcastLocal(msg);
  }

  /** One message to every local connection as is, through the stream group. */
  broadcastLocal(msg: Uint8Array): number {
    const out = new Outbound(msg, SERVER);
    const { sessions } = this.registry;
    for (const conn of sessions) this.router.stream.deliverTo(conn.receiver, out);
    return sessions.size;
  }

  /** The cluster part of a metrics sample (null on a single node). */
  clusterSample(): ClusterSample | null {
    return this.cluster?.sample() ?? null;
  }

  // ---- ServiceHost ----------------------------------------------------------------------------

  connectionList(): ConnectionInfo[] {
    return [...this.registry.sessions].map(this.describe);
  }

  connectionByCid(cid: string): ConnectionInfo | undefined {
    const conn = this.router.cids.get(cid);
    return conn ? this.describe(conn) : undefined;
  }

  channelList(): ChannelInfo[] {
    return [...this.router.channels.values()].map((channel) => describeChannel(this.router, channel.key, channel.size));
  }

  subscribersOf(key: string): string[] | null {
    const channel = this.router.channels.get(key);
    return channel ? [...channel.subscribers].map((sub) => sub.cid) : null;
  }

  retainedTopicsOf(cid: string): string[] {
    const conn = this.router.cids.get(cid);
    return conn ? this.router.retainedTopicsOf(conn) : [];
  }

  closeCid(cid: string, reason: string): boolean {
    const conn = this.router.cids.get(cid);
    if (!conn) return false;
    conn.close(reason);
    return true;
  }

  // ---- durable state (the history service, sudo) ----------------------------------------------------------------

  /** The caller's own session (services get a Caller; positioned deliveries go to its connection). */
  private sessionOf(caller: Caller): Connection | undefined {
    const conn = caller.cid ? this.router.cids.get(caller.cid) : undefined;
    return conn && conn.ssid === caller.ssid ? conn : undefined;
  }

  readonly durable: DurableHost = {
    admin: this.durabilityAdmin(),
    subscribeSince: async (caller, tag, from) => {
      const conn = this.sessionOf(caller);
      if (!conn) return { ok: false, reason: 'no-session', position: null };
      return this.durability.readers.subscribe(conn, channelKey(tag, conn.home), from);
    },
    unsubscribePositioned: (caller, tag) => {
      const conn = this.sessionOf(caller);
      return conn ? this.durability.readers.remove(conn, channelKey(tag, conn.home)) : false;
    },
    position: (caller, tag): HistoryPosition | null => {
      const conn = this.sessionOf(caller);
      return conn ? (this.durability.history?.position(channelKey(tag, conn.home)) ?? null) : null;
    },
    keyOf: (caller, tag) => {
      const conn = this.sessionOf(caller);
      return conn ? channelKey(tag, conn.home) : null;
    },
    mayRead: (caller, tag) => {
      const conn = this.sessionOf(caller);
      if (!conn) return true; // nothing is read without a session (keyOf gives null)
      if (tag.includes(',')) return false;
      return this.access === null || this.access.subscribeTags(conn, tag).denied.length === 0;
    },
  };

  /** Built before the constructor body runs `this.durability`: reads it at call time. */
  private durabilityAdmin(): DurableHost['admin'] {
    const self = this;
    return {
      get store() {
        return self.durability.adminStore;
      },
      get history() {
        return self.durability.history;
      },
      get live() {
        return self.router;
      },
      clearRetained: (key) => self.durability.clearRetained(key),
      figures: () => self.durability.figures(),
    };
  }

  // ---- keys -----------------------------------------------------------------------------------

  /**
   * Re-reads a file key store (SIGHUP) and ends sessions it no longer admits; null when the store has nothing to
   * re-read (other stores are live already). A failed reload keeps the previous keys and says why.
   */
  async reloadKeys(): Promise<ReloadResult | null> {
    const store = this.keyStore;
    if (!store || !hasReload(store)) return null;
    const result = await store.reload();
    if (result.ok) await this.audit.changed();
    return result;
  }

  /** Checks every logged-in session against the key store now (after an outside change to it). */
  revalidateSessions(): Promise<void> {
    return this.audit.changed();
  }
}
