// The shapes the engine's parts share (kept apart so that hub → connection → session has no import circle).
import type { Clock } from '../clock.js';
import type { KeepAliveSweep } from './keepalive-sweep.js';
import type { TopicView } from './channel-map.js';
import type { MqttLimits } from './options.js';
import type { MqttBrokerPort, MqttMessage, QoS, SessionJournal } from './port.js';

/** One message on its way to one session: the shared message plus what this receiver's subscriptions made of it. */
export interface Delivery {
  readonly message: MqttMessage;
  readonly qos: QoS;
  /** The RETAIN flag this receiver gets. */
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[];
  readonly view: TopicView;
  /** Set once in flight. */
  packetId: number;
  state: 'queued' | 'publish' | 'pubrel';
  /** Its offset in the session's journal; 0 while not journaled (no journal, or a session without expiry). */
  logOffset: number;
}

/** Counters of one hub (plain numbers, read when scraped). */
export class MqttStats {
  connectionsAccepted = 0;
  connectionsRefused = 0;
  packetsIn = 0;
  packetsOut = 0;
  publishesIn = 0;
  deliveries = 0;
  /** Deliveries not made, by cause. */
  droppedQueueFull = 0;
  droppedTooLarge = 0;
  droppedExpired = 0;
  droppedBacklog = 0;
  droppedOffline = 0;
  protocolErrors = 0;
  internalErrors = 0;
  takeovers = 0;
  sessionsExpired = 0;
  sessionsEvicted = 0;
  willsPublished = 0;
}

/** What a session and a connection get from their hub. */
export interface EngineContext {
  readonly limits: Readonly<MqttLimits>;
  readonly port: MqttBrokerPort;
  readonly clock: Clock;
  readonly stats: MqttStats;
  /** Where persistent sessions are journaled change by change (the port's session store), or null. */
  readonly journal: SessionJournal | null;
  /** The hub's one keepalive timer. */
  readonly keepAlive: KeepAliveSweep;
  log(line: string): void;
  /** Takes `bytes` from the hub-wide queue budget; false when it is spent (`force` takes them anyway). */
  reserveQueueBytes(bytes: number, force?: boolean): boolean;
  releaseQueueBytes(bytes: number): void;
}

/** What a session needs from the connection it is attached to. */
export interface SessionLink {
  /** QoS 1/2 PUBLISHes that may be unacknowledged at once. */
  readonly window: number;
  /** Sends a QoS 1/2 delivery (its packetId is set); false when it could not be sent (too large for the client). */
  transmit(delivery: Delivery, dup: boolean): boolean;
  /** Sends a QoS 0 delivery now, or drops it (backlog, size). */
  sendQos0(delivery: Delivery): void;
  writePubrel(packetId: number): void;
  /** A delivery failed inside the session's code: the connection is closed and the error counted. */
  internalError(where: string, err: unknown): void;
}
