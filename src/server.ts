// Wires transports, connections and the router from options; the library entry point.
import { EventEmitter } from 'node:events';
import { SealPool } from './crypto/seal-pool.js';
import { resolveOptions, type ServerOptions, type ServerOptionsInput } from './options.js';
import { Counters, type MetricsSnapshot } from './metrics/counters.js';
import { Router } from './router/router.js';
import { Connection } from './connection/connection.js';
import type { ConnectionHost } from './connection/session.js';
import { ProxyTrust, clientAddress } from './connection/address.js';
import { Admission } from './connection/admission.js';
import { LoginGuard, type LoginFailureReason } from './connection/login-guard.js';
import type { Link, PeerInfo } from './transport/link.js';
import { memoryPair, type MemoryEndpoint, type MemoryLinkOptions } from './transport/memory.js';
import { PlainLink, plainLimits, type FrameSocket, type PlainRequest } from './plain/plain-link.js';
import { Outbound, SERVER } from './delivery/outbound.js';
import type { TrafficCounters } from './metrics/traffic-history.js';
import { listenWs, type WsTransport } from './transport/ws.js';
import { listenCong, type CongTransport } from './transport/cong.js';
import { encodeServerSignal, encodeSignal } from './protocol/messages.js';
import type { DeviceRecord, KeyStore } from './auth/key-store.js';
import { DEFAULT_AUDIT_LIMITS, SessionAudit, hasReload, notifyChanges, type ReloadOutcome } from './auth/session-audit.js';
import { openKeyStore } from './auth/index.js';
import { FileLogger } from './logging/file-logger.js';
import { ServiceRegistry } from './services/registry.js';
import { registerHttpRoutes, type HttpHandle } from './http/routes.js';
import type { BrokerView } from './http/broker-view.js';
import type { CallRequest } from './protocol/rpc.js';
import type { Caller, ServiceReply } from './services/service.js';
import { ServerMetrics } from './metrics/sample.js';
import { firstOf, pageByKey, pageBySsid, type Page } from './http/paging.js';
import { BrokerCluster } from './cluster/broker-cluster.js';
import { clusterBrokerOf } from './cluster/server-broker.js';
import type { ClusterSample } from './metrics/cluster-sample.js';
import type { Service, ServiceHost } from './services/service.js';
import type { ChannelInfo, ConnectionInfo, SignalInfo } from './info.js';
import type { Clock, Timer } from './clock.js';

export type { ChannelInfo, ConnectionInfo, SignalInfo } from './info.js';



const SIGNAL_TAP_BYTES = 256;
/** Most channels named in one connection's description; `channelCount` has the total. */
export const CHANNELS_LISTED = 100;


/** How long a starting node waits for Redis before serving anyway (it joins the cluster when Redis answers). */
const CLUSTER_JOIN_MS = 5000;

export class IosigServer implements ConnectionHost<Connection>, ServiceHost, BrokerView {
  readonly options: ServerOptions;
  readonly counters = new Counters();
  readonly router: Router<Connection>;
  readonly proxyTrust: ProxyTrust;
  readonly loginGuard: LoginGuard;
  /** options.clock: the system clock unless a test passed its own. */
  readonly clock: Clock;
  private readonly admission: Admission;
  private readonly audit: SessionAudit;
  /** Refusals since the last line about them (one line a second at most during a flood). */
  private refusalsUnlogged = 0;
  private refusalLoggedAt = 0;
  keyStore: KeyStore | null = null;
  readonly services = new ServiceRegistry();
  readonly sealPool: SealPool;
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
    this.router = new Router(this.options, this.counters);
    this.proxyTrust = new ProxyTrust(this.options.trustedProxies);
    this.loginGuard = new LoginGuard(this.options.loginLimits, this.clock);
    const { sealThreads, sealAsyncFrom } = this.options;
    this.sealPool = new SealPool({ threads: sealThreads, asyncFrom: sealAsyncFrom, log: (line) => this.log(line) });
    this.admission = new Admission(this.options);
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
    const admit = (peer: PeerInfo): boolean => this.admit(peer);
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
        this.ws = await listenWs(this.options, this.counters, accept, (app) => {
          if (this.options.http) this.http = registerHttpRoutes(app, this, this.sampler);
        }, admit);
        this.wsPort = this.ws.port;
        const app = this.ws.app;
        this.router.attachNativeTopics((key, msg) => app.publish(key, msg, true));
      }
      if (this.options.congPort !== undefined) {
        this.cong = await listenCong(this.options, this.counters, accept, admit);
        this.congPort = this.cong.port;
      }
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
    const { link, endpoint } = memoryPair(transport, this.options.maxBackpressure);
    if (transport === 'ws') this.counters.acceptedWs++;
    else this.counters.acceptedCong++;
    link.conn = this.accept(link, {
      peerIp: opts.peerIp ?? '127.0.0.1',
      forwardedFor: opts.forwardedFor,
      forwardedProto: opts.forwardedProto,
      tls: opts.tls === true,
    });
    return endpoint;
  }

  /**
   * A plain device (the /plain/ endpoint) on a stand-in socket: the link translates as over uWS. The caller
   * reports the socket's end as uWS would: `link.closed = true`, then `link.conn.linkClosed()`. For tests and the
   * fuzz target.
   */
  connectPlain(socket: FrameSocket, request: PlainRequest, peerIp = '127.0.0.1'): PlainLink {
    const link = new PlainLink(socket, plainLimits(this.options), request, this.counters);
    this.counters.acceptedWs++;
    link.conn = this.accept(link, { peerIp });
    link.start();
    return link;
  }

  /** Connection caps (global and per client address), asked by the transports before a connection exists. */
  private admit(peer: PeerInfo): boolean {
    if (this.closing) return false;
    const ip = clientAddress(peer.peerIp, peer.forwardedFor, this.proxyTrust);
    const refusal = this.admission.check(ip);
    if (refusal === null) return true;
    if (refusal === 'global') this.counters.refusedGlobal++;
    else this.counters.refusedAddress++;
    this.refusalsUnlogged++;
    const now = this.clock.now();
    if (now - this.refusalLoggedAt >= 1000) {
      const cap = refusal === 'global' ? `the ${this.options.maxConnections}-connection cap` : `the ${this.options.maxConnectionsPerAddress}-connection cap per address`;
      this.log(`refused ${this.refusalsUnlogged} connection(s) in the last second; latest from ${ip}: over ${cap}`);
      this.refusalsUnlogged = 0;
      this.refusalLoggedAt = now;
    }
    return false;
  }

  private accept(link: Link, peer: PeerInfo): Connection {
    const conn = new Connection(this, link, peer);
    this.admission.opened(conn.ip);
    this.connections.add(conn);
    this.fileLogger?.connection('open', { ssid: conn.ssid, ip: conn.ip, transport: conn.transport });
    if (this.events.listenerCount('connection') > 0) this.events.emit('connection', describe(conn));
    return conn;
  }

  /** Keepalive (§1.3): close what stayed silent for a whole period, then probe everyone. */
  private sweep(): void {
    for (const conn of this.connections) {
      if (!conn.alive) {
        this.counters.timeouts++;
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
    if (this.events.listenerCount('text_message') > 0) this.events.emit('text_message', describe(conn), text);
  }

  sessionAdmitted(conn: Connection, record: DeviceRecord, level: number): void {
    this.audit.admitted(conn, record, level);
  }

  sessionClosed(conn: Connection): void {
    if (conn.authorized) this.audit.ended(conn.ssid);
    if (this.connections.delete(conn)) this.admission.closed(conn.ip);
    this.fileLogger?.connection('close', {
      ssid: conn.ssid,
      ip: conn.ip,
      transport: conn.transport,
      cid: conn.cid,
      reason: conn.closeReason || 'peer closed',
    });
    if (this.events.listenerCount('disconnect') > 0) this.events.emit('disconnect', describe(conn));
  }

  authLog(conn: Connection, ok: boolean, reason: string, code: LoginFailureReason = 'bad_record'): void {
    if (ok) this.counters.authOk++;
    else {
      this.counters.authFail++;
      this.counters.authFailByReason[code]++;
      // A throttled flood would otherwise write a line per attempt: one a second per address is enough.
      if (code.startsWith('throttled') || code === 'pending_cap') {
        if (!this.loginGuard.shouldLog(conn.ip)) return;
        reason += ' (further throttled attempts from this address are counted, not logged, for 1 s)';
      }
    }
    const who = `#${conn.ssid} ${conn.transport} ${conn.ip}`;
    this.log(ok ? `${who} login ok: cid ${conn.cid} did ${conn.did} level ${conn.level}` : `${who} login refused: ${reason}`);
    this.fileLogger?.auth(ok, {
      ssid: conn.ssid,
      ip: conn.ip,
      transport: conn.transport,
      cid: conn.cid,
      did: conn.did,
      admin: conn.admin,
      reason: ok ? undefined : reason,
    });
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
    for (const conn of this.connections) this.router.stream.deliverTo(conn, out);
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
    let cidRetained = 0;
    for (const conn of this.connections) {
      if (conn.transport === 'ws') ws++;
      cidRetained += conn.retainedCount;
    }
    const delivery = this.router.deliveryStats();
    const { counters } = this;
    return {
      ...counters,
      messagesOut: counters.messagesOut + delivery.messagesOut,
      bytesOut: counters.bytesOut + delivery.bytesOut,
      deliveries: counters.deliveries + delivery.deliveries,
      drops: counters.drops + delivery.drops,
      slowConsumerCloses: counters.slowConsumerCloses + delivery.slowConsumerCloses,
      lastSsid: this.lastSsid,
      connections: this.connections.size,
      connectionsWs: ws,
      connectionsCong: this.connections.size - ws,
      channels: this.router.channels.size,
      subscriptions: this.router.subscriptionCount(),
      retainedChannel: this.router.retained.size,
      retainedCid: cidRetained,
      retainedBytes: this.router.retainedBytes,
      onlineCids: this.router.cids.size,
    };
  }

  /** Traffic totals (connection sends plus every delivery group), read by the dashboard's chart once a second. */
  readonly traffic: TrafficCounters = ((server: IosigServer) => ({
    get messagesIn(): number {
      return server.counters.messagesIn;
    },
    get bytesIn(): number {
      return server.counters.bytesIn;
    },
    get messagesOut(): number {
      return server.counters.messagesOut + server.router.deliveryStats().messagesOut;
    },
    get bytesOut(): number {
      return server.counters.bytesOut + server.router.deliveryStats().bytesOut;
    },
  }))(this);

  connectionList(): ConnectionInfo[] {
    return [...this.connections].map(describe);
  }

  channelList(): ChannelInfo[] {
    return [...this.router.channels.values()].map((channel) => this.describeChannel(channel.key, channel.size));
  }

  /** Up to `limit` connections with an ssid above `after` (0 = from the first), in ssid order. */
  connectionPage(after: number, limit: number): Page<ConnectionInfo, number> {
    return pageBySsid(this.connections, after, limit, describe);
  }

  /** Up to `limit` channels with a key above `after` (null = from the first), in key order. */
  channelPage(after: string | null, limit: number): Page<ChannelInfo, string> {
    return pageByKey(this.router.channels, after, limit, (key, channel) => this.describeChannel(key, channel.size));
  }

  /** The first `limit` connections and channels in no particular order, walking nothing else (live views). */
  firstConnections(limit: number): ConnectionInfo[] {
    return firstOf(this.connections, limit, describe);
  }

  firstChannels(limit: number): ChannelInfo[] {
    return firstOf(this.router.channels.values(), limit, (channel) => this.describeChannel(channel.key, channel.size));
  }

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
    return conn ? describe(conn) : undefined;
  }

  subscribersOf(key: string): string[] | null {
    const channel = this.router.channels.get(key);
    return channel ? [...channel.subscribers].map((conn) => conn.cid) : null;
  }

  retainedTopicsOf(cid: string): string[] {
    return this.router.cids.get(cid)?.retainedTopics() ?? [];
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

function describe(conn: Connection): ConnectionInfo {
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
    retained: conn.retainedCount,
    uptimeMs: Date.now() - conn.createdAt,
    channels: firstOf(conn.subscriptions.keys(), CHANNELS_LISTED, (key) => key),
    channelCount: conn.subscriptions.size,
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
