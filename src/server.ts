// The library entry point: wires a broker (broker/) to its listeners from options — WebSocket with the HTTP
// routes and the plain endpoint, CongSocket, the descriptor guard, a cluster — and offers the broker's public
// face. Every rule lives in the broker and the rooms around it; this file only connects them.
import type { EventEmitter } from 'node:events';
import { resolveOptions, type ServerOptions, type ServerOptionsInput } from './options.js';
import { Broker } from './broker/broker.js';
import { BrokerViews } from './broker/views.js';
import { clusterSideOf } from './broker/cluster-side.js';
import { BrokerCluster } from './cluster/broker-cluster.js';
import { encodeServerSignal } from './protocol/messages.js';
import { openFileLimit } from './guard/admission.js';
import { DescriptorGuard, type PausableListener } from './transport/descriptor-guard.js';
import { memoryPair, type MemoryEndpoint, type MemoryLinkOptions } from './transport/memory.js';
import { backlogLimits } from './transport/listen-options.js';
import { listenWs, type WsTransport } from './transport/ws.js';
import { listenCong, type CongTransport } from './transport/cong.js';
import { PlainLink, plainEndpoint, plainLimits, type FrameSocket, type PlainRequest } from './plain/plain-link.js';
import { registerHttpRoutes, type HttpHandle } from './http/routes.js';
import type { Page } from './http/paging.js';
import type { ReloadOutcome } from './auth/session-audit.js';
import type { MetricsSnapshot } from './metrics/stats.js';
import type { Service } from './services/service.js';
import type { ChannelInfo, ConnectionInfo } from './info.js';

export type { ChannelInfo, ConnectionInfo, SignalInfo } from './info.js';

/** How long a starting node waits for Redis before serving anyway (it joins the cluster when Redis answers). */
const CLUSTER_JOIN_MS = 5000;

export class IosigServer {
  /** @internal The broker core: sessions, router, numbers, logs. */
  readonly broker: Broker;
  /** @internal What observers read (metrics, lists, pages, the sample the HTTP routes and tables share). */
  readonly views: BrokerViews;
  /** Resolves once every requested listener is bound (createServer waits for it). */
  readonly ready: Promise<void>;
  /** The bound WebSocket port (undefined without a WebSocket listener). */
  wsPort: number | undefined;
  /** The bound CongSocket port (undefined without a CongSocket listener). */
  congPort: number | undefined;
  private ws: WsTransport | null = null;
  private cong: CongTransport | null = null;
  private http: HttpHandle | null = null;
  /** Pauses the uWS listeners before descriptors run out (null when turned off, or the open-file limit is unknown). */
  private guard: DescriptorGuard | null = null;
  private cluster: BrokerCluster | null = null;
  private closing: Promise<void> | null = null;

  constructor(input: ServerOptionsInput & { services?: Service[] }) {
    this.broker = new Broker(resolveOptions(input), input.services);
    this.views = new BrokerViews(this.broker, () => this.guard?.paused === true);
    this.ready = this.listen();
    // Callers that never await `ready` must not crash the process with an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  /** @internal This node's cluster membership (null on a single node). */
  get clusterNode(): BrokerCluster | null {
    return this.cluster;
  }

  /** @internal The resolved options. */
  get options(): ServerOptions {
    return this.broker.options;
  }

  private async listen(): Promise<void> {
    const { broker } = this;
    const { options, door, stats } = broker;
    try {
      // Before any listener, so every CID and subscription is seen by the cluster from the start.
      if (options.cluster) {
        this.cluster = new BrokerCluster(clusterSideOf(broker, () => ({ ws: this.wsPort, cong: this.congPort })), options.cluster);
        broker.join(this.cluster);
      }
      await broker.open();
      if (options.port !== undefined) {
        const routes = options.http ? (app: WsTransport['app']) => (this.http = registerHttpRoutes(app, this.views, this.views.sampler)) : undefined;
        this.ws = await listenWs(options, stats, broker.accept, routes, door, plainEndpoint(options, stats));
        this.wsPort = this.ws.port;
        broker.router.attachNativeTopics(this.ws.publish);
      }
      if (options.congPort !== undefined) {
        this.cong = await listenCong(options, stats, broker.accept, door);
        this.congPort = this.cong.port;
      }
      // Not when close() came while starting: nothing would stop it.
      if (!this.closing) this.guard = startDescriptorGuard(this.ws?.listeners ?? [], options, () => stats.listenerPauses++);
    } catch (err) {
      await this.close();
      throw err;
    }
    broker.startSweep();
    if (this.cluster && !(await this.cluster.node.waitReady(CLUSTER_JOIN_MS))) {
      broker.log(`cluster: Redis ${options.cluster!.target.label} not reachable yet; serving local clients, joining when it answers`);
    }
  }

  /**
   * A connection over an in-memory link (no socket): the returned endpoint sends and receives whole messages.
   * The connection, the router and the delivery groups behave as with a real socket of that flavour.
   */
  connectInMemory(opts: MemoryLinkOptions = {}): MemoryEndpoint {
    const transport = opts.transport ?? 'ws';
    const { link, endpoint } = memoryPair(transport, backlogLimits(this.broker.options, 'cong'));
    if (transport === 'ws') this.broker.stats.acceptedWs++;
    else this.broker.stats.acceptedCong++;
    const { peerIp = '127.0.0.1', forwardedFor, forwardedProto, identity } = opts;
    link.conn = this.broker.accept(link, { peerIp, forwardedFor, forwardedProto, tls: opts.tls === true, ...(identity ? { identity } : {}) });
    return endpoint;
  }

  /**
   * A plain device (the /plain/ endpoint) on a socket of your own (tests, embedding): the link translates as over
   * uWS. The caller reports the socket's end as uWS would: `link.closed = true`, then `link.conn.linkClosed()`.
   */
  connectPlain(socket: FrameSocket, request: PlainRequest, peerIp = '127.0.0.1'): PlainLink {
    const { options, stats } = this.broker;
    const link = new PlainLink(socket, backlogLimits(options, 'ws'), plainLimits(options), request, stats);
    stats.acceptedWs++;
    link.conn = this.broker.accept(link, { peerIp });
    link.start();
    return link;
  }

  /** 'connection' / 'disconnect' (ConnectionInfo), 'text_message' (ConnectionInfo, text), 'signal' (SignalInfo). */
  get events(): EventEmitter {
    return this.broker.events;
  }

  /**
   * A SIGNAL from the server: to a channel (`name`), one device (`cid@topic`, delivered as `@topic`), or
   * with `everyone`, to every connection as is. Returns the number of receivers.
   */
  sendSignal(tag: string, payloadType: number, payload: Uint8Array, everyone = false): number {
    return this.broker.sendSignal(tag, payloadType, payload, everyone);
  }

  /** SERVER_SIGNAL (§3.10): `{"event", "data"}` to every connection. Returns the number of receivers. */
  sendServerSignal(event: string, data: unknown): number {
    return this.broker.broadcast(encodeServerSignal(JSON.stringify({ event, data })));
  }

  /** @deprecated The old name of sendServerSignal (SERVER_SIGNAL, not SIGNAL: see sendSignal). */
  signal(event: string, data: unknown): void {
    this.sendServerSignal(event, data);
  }

  /** Counters and gauges (the numbers /metrics exports). */
  metrics(): MetricsSnapshot {
    return this.views.metrics();
  }

  /** Every connection, described. */
  connectionList(): ConnectionInfo[] {
    return this.broker.connectionList();
  }

  /** Every channel with its subscriber count. */
  channelList(): ChannelInfo[] {
    return this.broker.channelList();
  }

  /** Up to `limit` connections with an ssid above `after` (0 = from the first), in ssid order. */
  connectionPage(after: number, limit: number): Page<ConnectionInfo, number> {
    return this.views.connectionPage(after, limit);
  }

  /** Up to `limit` channels with a key above `after` (null = from the first), in key order. */
  channelPage(after: string | null, limit: number): Page<ChannelInfo, string> {
    return this.views.channelPage(after, limit);
  }

  /** Attaches an RPC service under its name (§7.3). */
  attach(service: Service): void {
    this.broker.services.attach(service);
  }

  /**
   * Re-reads a file key store (SIGHUP) and ends sessions it no longer admits; null when the store has nothing to
   * re-read (other stores are live already). A failed reload keeps the previous keys and says why.
   */
  reloadKeys(): Promise<ReloadOutcome | null> {
    return this.broker.reloadKeys();
  }

  /** Checks every logged-in session against the key store now (after an outside change to it). */
  revalidateSessions(): Promise<void> {
    return this.broker.revalidateSessions();
  }

  /** Closes the listeners and every connection. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Before the listeners close, so a pending resume cannot bind them again.
    this.guard?.stop();
    this.guard = null;
    this.ws?.close();
    this.broker.closeSessions();
    this.http?.close();
    this.http = null;
    this.views.close();
    await this.cong?.close();
    await this.broker.close();
  }
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
function startDescriptorGuard(listeners: readonly PausableListener[], options: ServerOptions, onPause: () => void): DescriptorGuard | null {
  const limit = openFileLimit();
  if (options.fdReserve <= 0 || limit === null) return null;
  return new DescriptorGuard({
    limit,
    // Spares serve node's side only while uWS listeners are paused.
    reserve: listeners.length === 0 ? 0 : Math.min(options.fdReserve, Math.floor(limit / 4)),
    listeners,
    log: options.log,
    onPause,
  });
}
