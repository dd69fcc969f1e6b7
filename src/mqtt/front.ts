// The MQTT side of a server: the engine's hub on the broker's port (iosig-port.ts), its listeners (`-M`, and the
// `mqtt` subprotocol on the WebSocket port), the `$SYS/` topics and the figures for /metrics, /api/status and the
// dashboard. server.ts creates one when an MQTT listener is asked for.
import type uWS from 'uWebSockets.js';
import type { Broker } from '../broker/broker.js';
import { packageVersion } from '../cli/version.js';
import type { PeerInfo } from '../transport/link.js';
import { listenMqtt, mqttTransport, type MqttListener } from '../transport/mqtt-listen.js';
import type { WsMqttDoor, WsStream } from '../transport/ws.js';
import { MqttHub } from './hub.js';
import { IosigMqttPort, type MqttAccessCheck } from './iosig-port.js';
import type { MqttServerLimits } from './options.js';
import type { MqttMessage } from './port.js';
import type { MqttSample } from '../metrics/mqtt-sample.js';
import type { ConnectionInfo } from '../info.js';
import { STATE } from '../protocol/codes.js';
import type { MqttConnection, MqttTransport } from './connection.js';

export class MqttFront {
  readonly port: IosigMqttPort;
  readonly hub: MqttHub;
  private listener: MqttListener | null = null;
  private sysTimer: ReturnType<typeof setInterval> | null = null;
  private readonly startedAt = Date.now();
  /** Each connection's place in the broker's ssid sequence and how it came in (for the device lists). */
  private readonly seen = new WeakMap<MqttConnection, { ssid: number; ws: boolean }>();

  constructor(
    private readonly broker: Broker,
    limits: Readonly<MqttServerLimits>,
    accessCheck?: MqttAccessCheck,
  ) {
    // With a data directory, persistent sessions are journaled in the store and those it held come back now.
    const stored = broker.durability.mqttSessions();
    this.port = new IosigMqttPort(broker, { maxRetained: limits.maxRetained, maxRetainedBytes: limits.maxRetainedBytes, ...(accessCheck ? { accessCheck } : {}), ...(stored ? { sessions: stored.journal } : {}) });
    this.hub = new MqttHub({ port: this.port, limits, clock: broker.clock, log: (line) => broker.log(line), ...(stored ? { restored: stored.sessions } : {}) });
    if (stored) broker.durability.mqttSource(stored.journal.source((clientId) => this.hub.session(clientId)?.journalState() ?? null));
    this.port.retainKeeper = broker.durability.mqttRetained(
      (message) => this.port.restoreRetained(message),
      (topic) => this.port.retainedMessages.get(topic),
    );
    if (limits.sysInterval > 0) {
      this.sysTimer = setInterval(() => this.publishSys(), limits.sysInterval * 1000);
      this.sysTimer.unref();
    }
  }

  get listenPort(): number | undefined {
    return this.listener?.port;
  }

  /** Binds `-M` (TLS when the server has certificate files). */
  async listen(): Promise<number> {
    const { options, stats, door } = this.broker;
    this.listener = await listenMqtt(options, stats, { accept: (transport) => this.accept(transport, false) }, door);
    this.publishSys();
    return this.listener.port;
  }

  /** MQTT over WebSocket: what ws.ts calls for an upgrade that asked for the `mqtt` subprotocol. */
  wsDoor(): WsMqttDoor {
    const { door } = this.broker;
    return {
      open: (socket: uWS.WebSocket<unknown>, peer: PeerInfo): WsStream => {
        const booked = { ip: door.ipOf(peer) };
        door.entered(booked, peer.counted);
        let open = true;
        const conn = this.accept(
          mqttTransport(
            (bytes) => {
              if (open) socket.send(bytes, true);
            },
            () => {
              if (open) socket.end(1000);
            },
            () => (open ? socket.getBufferedAmount() : 0),
            booked.ip,
            door.tlsOf(peer),
            // Under --tls-ca the upgrade's verified client certificate names the device, as on the -M port.
            peer.certificate !== undefined ? [peer.certificate] : undefined,
          ),
          true,
        );
        return {
          feed: (bytes) => conn.feed(bytes),
          ended: () => {
            open = false;
            door.left(booked);
            conn.transportClosed();
          },
        };
      },
    };
  }

  private accept(transport: MqttTransport, ws: boolean): MqttConnection {
    const conn = this.hub.accept(transport);
    this.seen.set(conn, { ssid: this.broker.registry.nextSsid(), ws });
    return conn;
  }

  /** Up to `limit` MQTT connections as observers see them (device kind `mqtt`). */
  describeConnections(limit: number): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    const now = this.broker.clock.now();
    for (const conn of this.hub.openConnections) {
      if (out.length >= limit) break;
      const identity = conn.identity;
      const subscriptions = conn.session ? [...conn.session.subscriptions.keys()] : [];
      const seen = this.seen.get(conn);
      out.push({
        ssid: seen?.ssid ?? 0,
        cid: identity?.cid ?? '',
        state: conn.connected ? STATE.READY : STATE.CONNECTING,
        transport: seen?.ws ? 'ws' : 'mqtt',
        kind: 'mqtt',
        ip: conn.transport.remoteAddress,
        nick: conn.clientId,
        did: identity?.did ?? '',
        level: identity?.level ?? this.broker.policy.defaultQuotaLevel,
        uid: '',
        tls: conn.transport.tls,
        authorized: (identity?.did ?? '') !== '',
        admin: false,
        quotaViolations: 0,
        retained: 0,
        uptimeMs: Math.max(0, now - conn.openedAt),
        channels: subscriptions.slice(0, 100),
        channelCount: subscriptions.length,
        messagesIn: conn.messagesIn,
        messagesOut: conn.messagesOut,
        bytesIn: conn.bytesIn,
        bytesOut: conn.bytesOut,
      });
    }
    return out;
  }

  sample(): MqttSample {
    const g = this.hub.gauges();
    const s = this.hub.stats;
    return {
      ...g,
      subscriptions: this.port.subscriptionCount,
      retained: this.port.retainedCount,
      connectionsAccepted: s.connectionsAccepted,
      connectionsRefused: s.connectionsRefused,
      publishesIn: s.publishesIn,
      deliveries: s.deliveries,
      droppedQueueFull: s.droppedQueueFull,
      droppedTooLarge: s.droppedTooLarge,
      droppedExpired: s.droppedExpired,
      droppedBacklog: s.droppedBacklog,
      droppedOffline: s.droppedOffline,
      protocolErrors: s.protocolErrors,
      internalErrors: s.internalErrors,
      takeovers: s.takeovers,
      sessionsExpired: s.sessionsExpired,
      sessionsEvicted: s.sessionsEvicted,
      willsPublished: s.willsPublished,
    };
  }

  /**
   * The broker's figures as retained `$SYS/broker/…` messages, the topics MQTT tooling reads (mosquitto's names
   * where they exist); published to subscribers of `$SYS/#` on this node.
   */
  publishSys(): void {
    const m = this.sample();
    const st = this.broker.stats;
    const figures: Array<[string, string | number]> = [
      ['version', `iosig ${packageVersion()}`],
      ['uptime', `${Math.floor((Date.now() - this.startedAt) / 1000)} seconds`],
      ['clients/connected', m.connections],
      ['clients/total', m.sessions],
      ['clients/disconnected', m.offlineSessions],
      ['clients/iosig', this.broker.registry.size],
      ['messages/received', m.publishesIn],
      ['messages/sent', m.deliveries],
      ['messages/inflight', m.inflight],
      ['messages/stored', m.queued],
      ['store/messages/bytes', m.queuedBytes],
      ['retained messages/count', m.retained + this.broker.router.retained.size],
      ['subscriptions/count', m.subscriptions + this.broker.router.subscriptionCount()],
      ['iosig/channels', this.broker.router.channels.size],
      ['iosig/publishes', st.publishes],
      ['iosig/messages/in', st.messagesIn],
      ['iosig/messages/out', st.messagesOut],
    ];
    for (const [name, value] of figures) {
      const message: MqttMessage = { topic: `$SYS/broker/${name}`, payload: Buffer.from(String(value)), qos: 0, retain: true, origin: null };
      this.port.publishSys(message);
    }
  }

  /** Every MQTT connection gets DISCONNECT 0x8B (5) or a close; the listener stops. */
  async close(): Promise<void> {
    if (this.sysTimer) clearInterval(this.sysTimer);
    this.sysTimer = null;
    this.hub.close();
    this.port.detach();
    await this.listener?.close();
  }
}
