// Wires transports, connections and the router from options; the library entry point.
import { EventEmitter } from 'node:events';
import { SealPool } from './crypto/seal-pool.js';
import { resolveOptions, type ServerOptions, type ServerOptionsInput } from './options.js';
import { backlogLimits } from './transport/listen-options.js';
import { Stats, type MetricsSnapshot } from './metrics/stats.js';
import { Router } from './router/router.js';
import { Connection } from './connection/connection.js';
import type { ConnectionHost } from './connection/session.js';
import { ProxyTrust, clientAddress } from './guard/address.js';
import { Admission, openFileLimit, type HostRefusal, type OpeningSlot, type RefusalReason } from './guard/admission.js';
import { DescriptorGuard, type PausableListener } from './transport/descriptor-guard.js';
import { LoginGuard, type LoginFailureReason, type LoginThrottle } from './guard/login-guard.js';
import type { Doorkeeper, Link, PeerInfo } from './transport/link.js';
import { memoryPair, type MemoryEndpoint, type MemoryLinkOptions } from './transport/memory.js';
import { PlainLink, plainEndpoint, plainLimits, type FrameSocket, type PlainRequest } from './plain/plain-link.js';
import { Outbound, SERVER } from './delivery/outbound.js';
import type { TrafficCounters } from './metrics/traffic-history.js';
import { listenWs, type WsTransport } from './transport/ws.js';
import { listenCong, type CongTransport } from './transport/cong.js';
import { encodeServerSignal, encodeSignal } from './protocol/messages.js';
import type { DeviceRecord, KeyStore } from './auth/key-store.js';
import { DEFAULT_AUDIT_LIMITS, SessionAudit, hasReload, notifyChanges, type ReloadOutcome } from './auth/session-audit.js';
import { openKeyStore } from './auth/index.js';
import { FileLogger } from './logging/file-logger.js';
import { ThrottledLog } from './logging/throttled-log.js';
import { ServiceRegistry } from './services/registry.js';
import { SlowConsumers } from './delivery/slow-consumers.js';
import { registerHttpRoutes, type HttpHandle } from './http/routes.js';
import type { BrokerView } from './http/broker-view.js';
import type { CallRequest } from './protocol/rpc.js';
import type { Caller, ServiceReply } from './services/service.js';
import { ServerMetrics } from './metrics/sample.js';
import { firstOf, pageByKey, pageBySsid, type Page } from './http/paging.js';
import { BrokerCluster } from './cluster/broker-cluster.js';
import { clusterBrokerOf } from './cluster/server-broker.js';
import type { ClusterSample } from './metrics/cluster-sample.js';
import type { WorkersSample } from './workers/workers-sample.js';
import type { Service, ServiceHost } from './services/service.js';
import type { ChannelInfo, ConnectionInfo, SignalInfo } from './info.js';
import type { Clock, Timer } from './clock.js';

export type { ChannelInfo, ConnectionInfo, SignalInfo } from './info.js';



const SIGNAL_TAP_BYTES = 256;
/** Most channels named in one connection's description; `channelCount` has the total. */
export const CHANNELS_LISTED = 100;


/**
 * Lines a second about throttled logins from all addresses together (each address writes at most one a second):
 * a flood from many addresses cannot multiply them. The rest are counted (iosig_login_failures_total).
 */
export const THROTTLED_LOGIN_LINES_PER_SECOND = 10;

/** How long a starting node waits for Redis before serving anyway (it joins the cluster when Redis answers). */
const CLUSTER_JOIN_MS = 5000;

export class IosigServer implements ConnectionHost<Connection>, ServiceHost, BrokerView {
  readonly options: ServerOptions;
  readonly stats = new Stats();
  readonly router: Router<Connection>;
  readonly proxyTrust: ProxyTrust;
  /** The brute-force throttle: this process's own, or under --workers the primary's for the whole host. */
  readonly loginGuard: LoginThrottle;
  /** options.clock: the system clock unless a test passed its own. */
  readonly clock: Clock;
  private readonly admission: Admission;
  /** Connections whose place in the caps their transport holds (PeerInfo.counted). */
  private readonly countedByTransport = new WeakSet<Connection>();
  /** Pauses the uWS listeners before descriptors run out (null when turned off, or the open-file limit is unknown). */
  private guard: DescriptorGuard | null = null;
  private readonly audit: SessionAudit;
  /** Lines about throttled logins, within THROTTLED_LOGIN_LINES_PER_SECOND. */
  private readonly throttledLogins: ThrottledLog;
  /** Topics of the warnings already written (warnOnce). */
  private readonly warned = new Set<string>();
  /** Refusals since the last line about them (one line a second at most during a flood). */
  private refusalsUnlogged = 0;
  private refusalLoggedAt = 0;
  keyStore: KeyStore | null = null;
  readonly services = new ServiceRegistry();
  readonly sealPool: SealPool;
  readonly slowConsumers: SlowConsumers;
  readonly slowConsumerLog: ThrottledLog;
  private fileLogger: FileLogger | null = null;
  /** 'text_message' (ConnectionInfo, text), 'connection' / 'disconnect' (ConnectionInfo), 'signal' (SignalInfo). */
  readonly events = new EventEmitter();
  readonly connections = new Set<Connection>();
  /** Resolves once every requested listener is bound. */
  readonly ready: Promise<void>;
  wsPort: number | undefined;
  congPort: number | undefined;
  private lastSsid = 0;
  private ws: WsTransport | null = null;
  private cong: CongTransport | null = null;
  private sweepTimer: Timer | null = null;
  private closing: Promise<void> | null = null;
  private http: HttpHandle | null = null;
  private metricsSampler: ServerMetrics | null = null;
  /** This node's part in a cluster (`--cluster`); null on a single node. */
  cluster: BrokerCluster | null = null;
  /** Set only in a cluster: single-node logins stay synchronous. */
  claimCid?: ConnectionHost<Connection>['claimCid'];
  /** Set only in a cluster: sudo `cid` lists every node's CIDs. */
  clusterCids?: ServiceHost['clusterCids'];

  constructor(input: ServerOptionsInput & { services?: Service[] }) {
    this.options = resolveOptions(input);
    this.clock = this.options.clock;
    for (const service of input.services ?? []) this.services.attach(service);
    this.router = new Router(this.options, this.stats);
    this.proxyTrust = new ProxyTrust(this.options.trustedProxies);
    this.loginGuard = this.options.primary ?? new LoginGuard(this.options.loginLimits, this.clock);
    this.throttledLogins = new ThrottledLog((line) => this.log(line), 1000, THROTTLED_LOGIN_LINES_PER_SECOND);
    const { sealThreads, sealAsyncFrom } = this.options;
    this.sealPool = new SealPool({ threads: sealThreads, asyncFrom: sealAsyncFrom, log: (line) => this.log(line) });
    this.admission = new Admission(this.options);
    this.slowConsumers = new SlowConsumers(this.options, this.clock);
    this.slowConsumerLog = new ThrottledLog((line) => this.log(line));
    this.audit = new SessionAudit(() => this.keyStore, { ...DEFAULT_AUDIT_LIMITS, pollMs: this.options.sessionAuditMs });
    if (this.options.cluster) {
      this.claimCid = (cid) => this.cluster?.claimLogin(cid) ?? Promise.resolve({ ok: true });
      this.clusterCids = () => this.cluster?.allCids() ?? Promise.resolve(null);
    }
    this.ready = this.listen();
    // Callers that never await `ready` must not crash the process with an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  private async listen(): Promise<void> {
    const accept = (link: Link, peer: PeerInfo): Connection => this.accept(link, peer);
    const door: Doorkeeper = {
      admitSocket: (peerIp) => this.admitSocket(peerIp),
      admit: (peer) => this.admit(peer),
      unused: (peer) => this.options.primary?.give(this.ipOf(peer)),
    };
    try {
      // Before any listener, so every CID and subscription is seen by the cluster from the start.
      if (this.options.cluster) this.cluster = new BrokerCluster(clusterBrokerOf(this), this.options.cluster);
      if (this.options.auth) {
        const store = await openKeyStore(this.options.auth, (line) => this.log(line));
        this.keyStore = store;
        // Revocation: our own writes and reloads re-check live sessions; Redis can change behind us, so it is polled.
        if (store) notifyChanges(store, () => void this.audit.changed());
        if (store?.kind === 'redis') this.audit.startPolling();
      }
      if (this.options.fileLogDir) this.fileLogger = new FileLogger({ directory: this.options.fileLogDir });
      if (this.options.port !== undefined) {
        this.ws = await listenWs(this.options, this.stats, accept, (app) => {
          if (this.options.http) this.http = registerHttpRoutes(app, this, this.sampler);
        }, door, plainEndpoint(this.options, this.stats));
        this.wsPort = this.ws.port;
        this.router.attachNativeTopics(this.ws.publish);
      }
      if (this.options.congPort !== undefined) {
        this.cong = await listenCong(this.options, this.stats, accept, door);
        this.congPort = this.cong.port;
      }
      // Not when close() came while starting: nothing would stop it.
      if (!this.closing) this.guard = startDescriptorGuard(this.ws?.listeners ?? [], this.options, this.stats);
    } catch (err) {
      await this.close();
      throw err;
    }
    this.sweepTimer = this.clock.every(this.options.timeout, () => this.sweep());
    if (this.cluster && !(await this.cluster.node.waitReady(CLUSTER_JOIN_MS))) {
      this.log(`cluster: Redis ${this.options.cluster!.target.label} not reachable yet; serving local clients, joining when it answers`);
    }
  }

  /**
   * A connection over an in-memory link (no socket): the returned endpoint sends and receives whole messages.
   * The connection, the router and the delivery groups behave as with a real socket of that flavour.
   */
  connectInMemory(opts: MemoryLinkOptions = {}): MemoryEndpoint {
    const transport = opts.transport ?? 'ws';
    const { link, endpoint } = memoryPair(transport, { soft: this.options.maxBackpressure, hard: this.options.maxBacklog });
    if (transport === 'ws') this.stats.acceptedWs++;
    else this.stats.acceptedCong++;
    link.conn = this.accept(link, {
      peerIp: opts.peerIp ?? '127.0.0.1',
      forwardedFor: opts.forwardedFor,
      forwardedProto: opts.forwardedProto,
      tls: opts.tls === true,
      ...(opts.identity ? { identity: opts.identity } : {}),
    });
    return endpoint;
  }

  /**
   * A plain device (the /plain/ endpoint) on a stand-in socket: the link translates as over uWS. The caller
   * reports the socket's end as uWS would: `link.closed = true`, then `link.conn.linkClosed()`. For tests and the
   * fuzz target.
   */
  connectPlain(socket: FrameSocket, request: PlainRequest, peerIp = '127.0.0.1'): PlainLink {
    const link = new PlainLink(socket, backlogLimits(this.options, 'ws'), plainLimits(this.options), request, this.stats);
    this.stats.acceptedWs++;
    link.conn = this.accept(link, { peerIp });
    link.start();
    return link;
  }

  /**
   * Connection caps (global and per client address), asked by the transports before a connection exists: this
   * process's own, unless the transport counts the socket since its accept (PeerInfo.counted, see admitSocket).
   * Under --workers the primary's host-wide ledger is asked too, once this process's own caps pass; a place it
   * grants is given back when the connection ends (sessionClosed) or never comes to be (Doorkeeper.unused).
   */
  private admit(peer: PeerInfo): boolean | Promise<boolean> {
    if (this.closing) return false;
    const ip = this.ipOf(peer);
    if (!peer.counted) {
      const refusal = this.admission.check(ip);
      if (refusal !== null) {
        this.refuse(refusal, ip);
        return false;
      }
    }
    const primary = this.options.primary;
    if (!primary) return true;
    return primary.take(ip).then((refusal) => {
      if (refusal === null && !this.closing) return true;
      if (refusal === null) primary.give(ip);
      else this.refuse(refusal, ip, true);
      return false;
    });
  }

  /**
   * This process's caps and the budgets of sockets still opening, asked at TCP accept by the transports that see
   * the socket then (CongSocket, the mutual-TLS front): the socket counts from now until it closes. The host's
   * place (--workers) is taken later, by `admit`, once the socket is about to become a connection.
   */
  private admitSocket(peerIp: string): OpeningSlot | null {
    if (this.closing) return null;
    const ip = clientAddress(peerIp, undefined, this.proxyTrust);
    const refusal = this.admission.checkSocket(ip);
    if (refusal === null) return this.admission.enter(ip);
    this.refuse(refusal, ip);
    return null;
  }

  private ipOf(peer: PeerInfo): string {
    return clientAddress(peer.peerIp, peer.forwardedFor, this.proxyTrust);
  }

  /** Counts a refusal; one log line a second at most during a flood. `host`: the primary's ledger refused. */
  private refuse(refusal: RefusalReason | HostRefusal, ip: string, host = false): void {
    const { options, stats } = this;
    let why: string;
    if (refusal === 'primary_unavailable') {
      stats.refusedPrimaryUnavailable++;
      why = 'the primary process did not answer in time (--workers)';
    } else if (refusal === 'global') {
      stats.refusedGlobal++;
      why = host ? `over the host's connection cap (--workers)` : `over the ${options.maxConnections}-connection cap`;
    } else if (refusal === 'address') {
      stats.refusedAddress++;
      why = host ? `over the host's connection cap per address (--workers)` : `over the ${options.maxConnectionsPerAddress}-connection cap per address`;
    } else if (refusal === 'handshakes') {
      stats.refusedHandshakes++;
      why = `over the cap of ${options.maxHandshakes} sockets still opening`;
    } else {
      stats.refusedHandshakesAddress++;
      why = `over the cap of ${options.maxHandshakesPerAddress} sockets still opening per address`;
    }
    this.refusalsUnlogged++;
    const now = this.clock.now();
    if (now - this.refusalLoggedAt < 1000) return;
    this.log(`refused ${this.refusalsUnlogged} connection(s) in the last second; latest from ${ip}: ${why}`);
    this.refusalsUnlogged = 0;
    this.refusalLoggedAt = now;
  }

  private accept(link: Link, peer: PeerInfo): Connection {
    const conn = new Connection(this, link, peer);
    // A transport that counted the socket since its accept gives its place back when the socket closes.
    if (peer.counted) this.countedByTransport.add(conn);
    else this.admission.opened(conn.ip);
    this.connections.add(conn);
    this.fileLogger?.connection('open', { ssid: conn.ssid, ip: conn.ip, transport: conn.transport });
    if (this.events.listenerCount('connection') > 0) this.events.emit('connection', this.describe(conn));
    return conn;
  }

  /** Keepalive (§1.3): close what stayed silent for a whole period, then probe everyone. */
  private sweep(): void {
    for (const conn of this.connections) {
      if (!conn.alive) {
        this.stats.timeouts++;
        conn.close('keepalive timeout');
        continue;
      }
      conn.alive = false;
      conn.link.probe();
    }
  }

  // ---- ConnectionHost -----------------------------------------------------------------------

  nextSsid(): number {
    return ++this.lastSsid;
  }

  log(line: string): void {
    this.options.log(line);
  }

  call(caller: Caller, req: CallRequest): Promise<ServiceReply> {
    return this.services.call(caller, req, this);
  }

  textMessage(conn: Connection, text: string): void {
    if (this.events.listenerCount('text_message') > 0) this.events.emit('text_message', this.describe(conn), text);
  }

  sessionAdmitted(conn: Connection, record: DeviceRecord, level: number): void {
    this.audit.admitted(conn, record, level);
  }

  sessionClosed(conn: Connection): void {
    if (conn.authorized) this.audit.ended(conn.ssid);
    if (this.connections.delete(conn)) {
      // A transport that counted the socket since its accept gives that place back when the socket closes.
      if (!this.countedByTransport.delete(conn)) this.admission.closed(conn.ip);
      // --workers: the host's place, taken by admit for every connection a transport takes on, counted or not
      // (the primary ignores a give from a worker that holds none for this address).
      this.options.primary?.give(conn.ip);
    }
    this.fileLogger?.connection('close', {
      ssid: conn.ssid,
      ip: conn.ip,
      transport: conn.transport,
      cid: conn.cid,
      reason: conn.closeReason || 'peer closed',
    });
    if (this.events.listenerCount('disconnect') > 0) this.events.emit('disconnect', this.describe(conn));
  }

  authLog(conn: Connection, ok: boolean, reason: string, code: LoginFailureReason = 'bad_record'): void {
    if (ok) this.stats.authOk++;
    else {
      this.stats.authFail++;
      this.stats.authFailByReason[code]++;
    }
    const who = `#${conn.ssid} ${conn.transport} ${conn.ip}`;
    const write = (line: string): void => {
      this.log(line);
      this.fileLogger?.auth(ok, {
        ssid: conn.ssid,
        ip: conn.ip,
        transport: conn.transport,
        cid: conn.cid,
        did: conn.did,
        admin: conn.admin,
        reason: ok ? undefined : reason,
      });
    };
    if (ok) return write(`${who} login ok: cid ${conn.cid} did ${conn.did} level ${conn.level}`);
    if (code.startsWith('throttled') || code === 'pending_cap') {
      // A throttled flood would otherwise write a line per attempt: one a second per address, and a budget a
      // second for all addresses together, so that many addresses cannot multiply them either.
      if (!this.loginGuard.shouldLog(conn.ip)) return;
      reason += ' (further throttled attempts from this address are counted, not logged, for 1 s)';
      return this.throttledLogins.write(`${who} login refused: ${reason}`, write, this.clock.now());
    }
    write(`${who} login refused: ${reason}`);
  }

  warnOnce(topic: string, line: string): void {
    if (this.warned.has(topic)) return;
    this.warned.add(topic);
    this.log(line);
  }

  tapSignal(conn: Connection, tag: string, msg: Uint8Array): void {
    if (this.events.listenerCount('signal') === 0) return;
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

  attackLog(conn: Connection, reason: string, bytes: Uint8Array): void {
    this.fileLogger?.attack({ ssid: conn.ssid, ip: conn.ip, transport: conn.transport, bytes, reason });
  }

  // ---- public API ---------------------------------------------------------------------------

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

  /** SERVER_SIGNAL (§3.10): `{"event", "data"}` to every connection. Returns the number of receivers. */
  sendServerSignal(event: string, data: unknown): number {
    return this.broadcast(encodeServerSignal(JSON.stringify({ event, data })));
  }

  /** @deprecated The old name of sendServerSignal (SERVER_SIGNAL, not SIGNAL: see sendSignal). */
  signal(event: string, data: unknown): void {
    this.sendServerSignal(event, data);
  }

  /** The supervisor's figures under --workers (null otherwise). */
  workersSample(): WorkersSample | null {
    return this.options.primary?.sample() ?? null;
  }

  /** The cluster part of a metrics sample (null on a single node). */
  clusterSample(): ClusterSample | null {
    return this.cluster?.sample() ?? null;
  }

  /** One message to every connection of the cluster as is (sealed per encrypted session); returns local receivers. */
  private broadcast(msg: Uint8Array): number {
    this.cluster?.everyone(msg);
    return this.broadcastLocal(msg);
  }

  /** One message to every local connection as is, through the stream group. */
  broadcastLocal(msg: Uint8Array): number {
    const out = new Outbound(msg, SERVER);
    for (const conn of this.connections) this.router.stream.deliverTo(conn.receiver, out);
    return this.connections.size;
  }

  /**
   * The one registry sample that Prometheus, the status API, the dashboard and the `-m` tables read.
   * Made on first use, so a server without HTTP or tables runs no event-loop-lag sampling.
   */
  get sampler(): ServerMetrics {
    return (this.metricsSampler ??= new ServerMetrics(this));
  }

  metrics(): MetricsSnapshot {
    let ws = 0;
    for (const conn of this.connections) if (conn.transport === 'ws') ws++;
    return {
      ...this.stats,
      slowConsumersBehind: this.slowConsumers.behind,
      backlogBytesBehind: this.slowConsumers.backlogBytes,
      slowConsumerVerdicts: { ...this.slowConsumers.verdicts },
      lastSsid: this.lastSsid,
      connections: this.connections.size,
      connectionsWs: ws,
      connectionsCong: this.connections.size - ws,
      channels: this.router.channels.size,
      subscriptions: this.router.subscriptionCount(),
      retainedChannel: this.router.retained.size,
      retainedCid: this.router.cidRetainedCount(),
      retainedBytes: this.router.retainedBytes,
      onlineCids: this.router.cids.size,
      openingSockets: this.admission.openingCount,
      listenerPaused: this.guard?.paused ? 1 : 0,
    };
  }

  /** Traffic totals, read by the dashboard's chart once a second. */
  get traffic(): TrafficCounters {
    return this.stats;
  }

  connectionList(): ConnectionInfo[] {
    return [...this.connections].map(this.describe);
  }

  channelList(): ChannelInfo[] {
    return [...this.router.channels.values()].map((channel) => this.describeChannel(channel.key, channel.size));
  }

  /** Up to `limit` connections with an ssid above `after` (0 = from the first), in ssid order. */
  connectionPage(after: number, limit: number): Page<ConnectionInfo, number> {
    return pageBySsid(this.connections, after, limit, this.describe);
  }

  /** Up to `limit` channels with a key above `after` (null = from the first), in key order. */
  channelPage(after: string | null, limit: number): Page<ChannelInfo, string> {
    return pageByKey(this.router.channels, after, limit, (key, channel) => this.describeChannel(key, channel.size));
  }

  /** The first `limit` connections and channels in no particular order, walking nothing else (live views). */
  firstConnections(limit: number): ConnectionInfo[] {
    return firstOf(this.connections, limit, this.describe);
  }

  firstChannels(limit: number): ChannelInfo[] {
    return firstOf(this.router.channels.values(), limit, (channel) => this.describeChannel(channel.key, channel.size));
  }

  private readonly describe = (conn: Connection): ConnectionInfo => describeConnection(this.router, conn);

  private describeChannel(key: string, subscribers: number): ChannelInfo {
    return { key, subscribers, retained: this.router.retained.has(key) };
  }

  // ---- services ----------------------------------------------------------------------------

  /** Attaches an RPC service under its name (§7.3). */
  attach(service: Service): void {
    this.services.attach(service);
  }

  connectionByCid(cid: string): ConnectionInfo | undefined {
    const conn = this.router.cids.get(cid);
    return conn ? this.describe(conn) : undefined;
  }

  subscribersOf(key: string): string[] | null {
    const channel = this.router.channels.get(key);
    return channel ? [...channel.subscribers].map((conn) => conn.cid) : null;
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

  /**
   * Re-reads a file key store (SIGHUP) and ends sessions it no longer admits; null when the store has nothing to
   * re-read (other stores are live already). A failed reload keeps the previous keys and says why.
   */
  async reloadKeys(): Promise<ReloadOutcome | null> {
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

  /** Closes listeners and every connection. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.sweepTimer?.cancel();
    this.sweepTimer = null;
    this.slowConsumers.close();
    // Before the listeners close, so a pending resume cannot bind them again.
    this.guard?.stop();
    this.guard = null;
    this.ws?.close();
    this.audit.close();
    for (const conn of [...this.connections]) conn.close('server closing', 'shutdown');
    this.http?.close();
    this.http = null;
    this.metricsSampler?.close();
    this.metricsSampler = null;
    await this.cong?.close();
    await this.cluster?.close();
    await this.services.close();
    await this.keyStore?.close();
    this.keyStore = null;
    await this.fileLogger?.close();
    this.fileLogger = null;
    await this.sealPool.close();
  }
}

const describeConnection = (router: Router<Connection>, conn: Connection): ConnectionInfo => {
  const subscriptions = router.subscriptionsOf(conn);
  return {
    ssid: conn.ssid,
    cid: conn.cid,
    state: conn.state,
    transport: conn.transport,
    kind: conn.link.kind ?? (conn.nick.startsWith('serial:') ? 'serial' : 'iosignal'),
    ip: conn.ip,
    nick: conn.nick,
    did: conn.did,
    level: conn.level,
    uid: conn.uid,
    tls: conn.tls,
    authorized: conn.authorized,
    admin: conn.admin,
    quotaViolations: conn.quotaViolations,
    retained: router.retainedCountOf(conn),
    uptimeMs: Date.now() - conn.createdAt,
    channels: firstOf(subscriptions.keys(), CHANNELS_LISTED, (key) => key),
    channelCount: subscriptions.size,
    messagesIn: conn.messagesIn,
    messagesOut: conn.messagesOut,
    bytesIn: conn.bytesIn,
    bytesOut: conn.bytesOut,
  };
}

/** Creates a server and waits until it listens. */
export async function createServer(input: ServerOptionsInput & { services?: Service[] }): Promise<IosigServer> {
  const server = new IosigServer(input);
  await server.ready;
  return server;
}

/**
 * The descriptor guard (null when turned off, or where the open-file limit cannot be read): the uWS listeners
 * pause before descriptors run out, which uWS cannot survive without spinning, and accept again once descriptors
 * are free; node's listeners survive it on their own (libuv closes what it cannot accept), so without a uWS
 * listener the guard only says so in the log.
 */
function startDescriptorGuard(listeners: readonly PausableListener[], options: ServerOptions, stats: Stats): DescriptorGuard | null {
  const limit = openFileLimit();
  if (options.fdReserve <= 0 || limit === null) return null;
  return new DescriptorGuard({
    limit,
    // Spares serve node's side only while uWS listeners are paused.
    reserve: listeners.length === 0 ? 0 : Math.min(options.fdReserve, Math.floor(limit / 4)),
    listeners,
    log: options.log,
    onPause: () => stats.listenerPauses++,
  });
}
