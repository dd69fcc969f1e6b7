// The broker core: the registry of sessions, the router, one Stats, the events tap, the log sink, the
// slow-consumer watch, the door, the key store and the services. Sessions reach it through the session port
// (connection/port.ts), transports through `accept` and the door, services through ServiceHost, the HTTP layer
// through BrokerView (views.ts), a cluster through cluster-side.ts. server.ts wires it to the listeners.
import { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../clock.js';
import { PAYLOAD } from '../protocol/codes.js';
import { encodeAuthClear, encodeSignal } from '../protocol/messages.js';
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
import { claimCid, type ClaimRules, type ClusterClaim } from './cid-claims.js';
import { describeChannel, describeSession } from './describe.js';
import { Door } from './door.js';
import { LogSink } from './log-sink.js';
import { sessionPolicy } from './policy.js';
import { Registry } from './registry.js';
import { SlowConsumers } from './slow-consumers.js';
import type { ClusterSample } from '../metrics/cluster-sample.js';
import { Durability } from './durability.js';
import { packageVersion } from '../cli/version.js';

/** Payload bytes of a published signal shown to observers ('signal' events, the dashboard's tail). */
const SIGNAL_TAP_BYTES = 256;
const CLOSE_TEXT = Buffer.from('close\0');

/**
 * What the broker asks of its cluster membership (cluster/broker-cluster.ts is one): the other half of the
 * boundary is what the cluster asks of the broker (cluster-side.ts).
 */
export interface ClusterMembership {
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
    this.door = new Door(options, new ProxyTrust(options.trustedProxies), options.primary, this.stats, this.clock);
    this.watch = new SlowConsumers(options, this.clock, (line) => this.log(line));
    this.audit = new SessionAudit(() => this.keyStore, { ...DEFAULT_AUDIT_LIMITS, pollMs: options.sessionAuditMs });
    this.claims = {
      duplicateLogin: options.duplicateLogin,
      duplicateProbeTimeout: options.duplicateProbeTimeout,
      clock: this.clock,
      claimAcross: options.cluster ? (cid) => this.cluster?.claimLogin(cid) ?? Promise.resolve({ ok: true }) : null,
    };
    if (options.cluster) this.clusterCids = () => this.cluster?.allCids() ?? Promise.resolve(null);
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
    const conn = new Connection(this, link, { ssid: this.registry.nextSsid(), ip: door.ipOf(peer), tls: door.tlsOf(peer), identity: peer.identity, serial: peer.device === 'serial' });
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
    return this.router.subscribe(conn, tags);
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
    if (this.events.listenerCount('signal') > 0) this.tap(conn, tag, msg);
    const result = this.router.publish(conn, msg, tag);
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
    return this.router.assignAnonymousCid(conn);
  }

  claimCid(conn: Connection, cid: string, then: (claim: CidClaim) => void): void {
    claimCid(this.claims, this.router, conn, cid, then);
  }

  channelsOf(conn: Connection): string[] {
    return [...this.router.subscriptionsOf(conn).keys()];
  }

  call(conn: Connection, req: CallRequest): Promise<ServiceReply> {
    return this.services.call(conn, req, this);
  }

  deliveryChanged(conn: Connection): void {
    this.router.refreshDelivery(conn);
  }

  // ---- the session port: what sessions tell ------------------------------------------------

  admitted(conn: Connection, record: DeviceRecord, level: number, via: string): void {
    this.stats.authOk++;
    this.logs.login(conn, true, via, null);
    this.audit.admitted(conn, record, level);
    this.durability.loggedIn(conn);
    if (record.name) this.router.publish(conn, encodeSignal('@$name', PAYLOAD.TEXT, Buffer.from(`${record.name}\0`)), '@$name');
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
