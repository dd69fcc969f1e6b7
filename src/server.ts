// The library entry point: wires a broker (broker/) to its listeners from options — WebSocket with the HTTP
// routes and the plain endpoint, CongSocket, the descriptor guard, a cluster — and shows it as an IosigServer
// (server-view.ts). Every rule lives in the broker and the rooms around it; this file only connects them.
import type { EventEmitter } from 'node:events';
import { resolveOptions, type ServerOptions, type ServerOptionsInput } from './options.js';
import { Broker } from './broker/broker.js';
import { BrokerViews } from './broker/views.js';
import { ClusterSide } from './broker/cluster-side.js';
import { BrokerCluster } from './cluster/broker-cluster.js';
import { encodeServerSignal } from './protocol/messages.js';
import { guardListeners, type DescriptorGuard } from './transport/descriptor-guard.js';
import { memoryPair, type MemoryEndpoint, type MemoryLinkOptions } from './transport/memory.js';
import { backlogLimits } from './transport/listen-options.js';
import { listenWs, type WsTransport } from './transport/ws.js';
import { listenCong, type CongTransport } from './transport/cong.js';
import { checkTlsFiles } from './transport/tls-options.js';
import { MqttFront } from './mqtt/front.js';
import { PlainLink, plainEndpoint, plainLimits, type FrameSocket, type PlainRequest } from './plain/plain-link.js';
import { registerHttpRoutes, type HttpHandle } from './http/routes.js';
import type { Page } from './info.js';
import type { ReloadResult } from './auth/key-store.js';
import type { MetricsSnapshot } from './metrics/stats.js';
import type { Service } from './services/service.js';
import type { ChannelInfo, ConnectionInfo } from './info.js';
import type { IosigServer } from './server-view.js';
import { packageVersion } from './cli/version.js';

export type { IosigServer } from './server-view.js';
export type { ChannelInfo, ConnectionInfo } from './info.js';
export type { SignalInfo } from './server-view.js';

/** How long a starting node waits for its bus (Redis) before serving anyway (it joins the cluster when the bus answers). */
const CLUSTER_JOIN_MS = 5000;

/** @internal The server behind an IosigServer: the broker, its listeners and the views observers read. */
export class Server implements IosigServer {
  readonly broker: Broker;
  readonly views: BrokerViews;
  readonly ready: Promise<void>;
  wsPort: number | undefined;
  congPort: number | undefined;
  mqttPort: number | undefined;
  /** The MQTT side (hub, port, listeners); null unless `mqttPort` or `mqttWs` is set. */
  mqtt: MqttFront | null = null;
  /** This node's cluster membership (null on a single node). */
  cluster: BrokerCluster | null = null;
  private ws: WsTransport | null = null;
  private cong: CongTransport | null = null;
  private http: HttpHandle | null = null;
  /** Pauses the uWS listeners before descriptors run out (null when turned off, or the open-file limit is unknown). */
  private guard: DescriptorGuard | null = null;
  private closing: Promise<void> | null = null;

  constructor(input: ServerOptionsInput & { services?: Service[] }) {
    this.broker = new Broker(resolveOptions(input), input.services);
    this.views = new BrokerViews(this.broker, () => this.guard?.paused === true, () => this.mqtt);
    this.ready = this.listen();
    // Callers that never await `ready` must not crash the process with an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  get options(): ServerOptions {
    return this.broker.options;
  }

  private async listen(): Promise<void> {
    const { broker } = this;
    const { options, door, stats } = broker;
    try {
      checkTlsFiles(options.tls);
      // Before any listener, so every CID and subscription is seen by the cluster from the start.
      if (options.cluster) {
        const side = new ClusterSide(broker, () => ({ ws: this.wsPort, cong: this.congPort }));
        this.cluster = new BrokerCluster(side, options.cluster, stats);
        side.connect(this.cluster);
        broker.join(this.cluster);
      }
      await broker.open();
      if (options.mqttPort !== undefined || options.mqttWs) this.mqtt = new MqttFront(broker, options.mqtt);
      if (options.port !== undefined) {
        const routes = options.http ? (app: WsTransport['app']) => (this.http = registerHttpRoutes(app, this.views, this.views.sampler)) : undefined;
        const mqttDoor = options.mqttWs ? this.mqtt!.wsDoor() : null;
        this.ws = await listenWs(options, stats, broker.accept, routes, door, plainEndpoint(options, stats), mqttDoor);
        this.wsPort = this.ws.port;
        broker.router.attachNativeTopics(this.ws.publish);
      }
      if (options.congPort !== undefined) {
        this.cong = await listenCong(options, stats, broker.accept, door);
        this.congPort = this.cong.port;
      }
      if (options.mqttPort !== undefined) this.mqttPort = await this.mqtt!.listen();
      // Not when close() came while starting: nothing would stop it.
      if (!this.closing) this.guard = guardListeners(this.ws?.listeners ?? [], options.fdReserve, options.log, () => stats.listenerPauses++);
    } catch (err) {
      await this.close();
      throw err;
    }
    broker.startSweep();
    if (this.cluster) {
      const { cluster } = this;
      if (!(await cluster.node.waitReady(CLUSTER_JOIN_MS))) broker.log(`cluster: ${cluster.node.engineLabel} not reachable yet; serving local clients, joining when it answers`);
      // The cluster's durable store: Redis, once it answers (ioredis holds the commands until then). The other
      // engines (a memory hub, the workers' primary) keep no durable store of their own.
      const commands = cluster.node.redisCommands;
      if (commands !== null) {
        const redis = { client: commands, url: cluster.node.engineLabel, prefix: options.cluster!.prefix };
        broker.durability.attachCluster(packageVersion(), redis).catch((err: unknown) => broker.log(`cluster: the Redis store could not be opened (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); CID-retained values are kept in memory only`));
      }
    }
  }

  connectInMemory(opts: MemoryLinkOptions = {}): MemoryEndpoint {
    const transport = opts.transport ?? 'ws';
    const { link, endpoint } = memoryPair(transport, backlogLimits(this.broker.options, 'cong'));
    if (transport === 'ws') this.broker.stats.acceptedWs++;
    else this.broker.stats.acceptedCong++;
    const { peerIp = '127.0.0.1', forwardedFor, forwardedProto, identity, certificate } = opts;
    link.conn = this.broker.accept(link, { peerIp, forwardedFor, forwardedProto, tls: opts.tls === true, ...(identity ? { identity } : {}), ...(certificate ? { certificate } : {}) });
    return endpoint;
  }

  /** The caller reports the socket's end as uWS would: `link.closed = true`, then `link.conn.linkClosed()`. */
  connectPlain(socket: FrameSocket, request: PlainRequest, peerIp = '127.0.0.1'): PlainLink {
    const { options, stats } = this.broker;
    const link = new PlainLink(socket, backlogLimits(options, 'ws'), plainLimits(options), request, stats);
    stats.acceptedWs++;
    link.conn = this.broker.accept(link, { peerIp });
    link.start();
    return link;
  }

  get events(): EventEmitter {
    return this.broker.events;
  }

  sendSignal(tag: string, payloadType: number, payload: Uint8Array, everyone = false): number {
    return this.broker.sendSignal(tag, payloadType, payload, everyone);
  }

  sendServerSignal(event: string, data: unknown): number {
    return this.broker.broadcast(encodeServerSignal(JSON.stringify({ event, data })));
  }

  /** @deprecated The old name of sendServerSignal. */
  signal(event: string, data: unknown): void {
    this.sendServerSignal(event, data);
  }

  metrics(): MetricsSnapshot {
    return this.views.metrics();
  }

  connectionList(): ConnectionInfo[] {
    const list = this.broker.connectionList();
    if (this.mqtt) list.push(...this.mqtt.describeConnections(Number.MAX_SAFE_INTEGER));
    return list;
  }

  channelList(): ChannelInfo[] {
    return this.broker.channelList();
  }

  connectionPage(after: number, limit: number): Page<ConnectionInfo, number> {
    return this.views.connectionPage(after, limit);
  }

  channelPage(after: string | null, limit: number): Page<ChannelInfo, string> {
    return this.views.channelPage(after, limit);
  }

  attach(service: Service): void {
    this.broker.services.attach(service);
  }

  reloadKeys(): Promise<ReloadResult | null> {
    return this.broker.reloadKeys();
  }

  /**
   * Reads the `--acl` file again (SIGHUP): true when the new rules are in force, false when they were refused (the
   * rules in force stay, the log says which lines are at fault), null without an ACL file.
   */
  reloadAccess(): Promise<boolean | null> {
    return this.broker.access?.reload() ?? Promise.resolve(null);
  }

  revalidateSessions(): Promise<void> {
    return this.broker.revalidateSessions();
  }

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
    await this.mqtt?.close();
    this.http?.close();
    this.http = null;
    this.views.close();
    await this.cong?.close();
    await this.broker.close();
  }
}

/** @internal A server with its internals in reach (the CLI, tests): listening once it resolves. */
export async function startServer(input: ServerOptionsInput & { services?: Service[] }): Promise<Server> {
  const server = new Server(input);
  await server.ready;
  return server;
}

/** Starts a broker with these options; resolves once every requested listener is bound. */
export function createServer(input: ServerOptionsInput & { services?: Service[] }): Promise<IosigServer> {
  return startServer(input);
}
