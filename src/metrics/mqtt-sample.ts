// The MQTT side's figures in a metrics sample (mqtt/front.ts makes them): plain data, like the cluster's.

/** The gauges of an MQTT hub (mqtt/hub.ts), read when scraped. */
export interface MqttGauges {
  /** MQTT network connections open (TCP, TLS and WebSocket). */
  connections: number;
  /** Sessions held (connected or not), and those without a connection. */
  sessions: number;
  offlineSessions: number;
  /** QoS 1/2 messages in flight to clients, and messages queued for them (and their payload bytes). */
  inflight: number;
  queued: number;
  queuedBytes: number;
}

/** What /metrics, /api/status and the dashboard show of MQTT. */
export interface MqttSample extends MqttGauges {
  subscriptions: number;
  retained: number;
  connectionsAccepted: number;
  connectionsRefused: number;
  publishesIn: number;
  deliveries: number;
  droppedQueueFull: number;
  droppedTooLarge: number;
  droppedExpired: number;
  droppedBacklog: number;
  droppedOffline: number;
  protocolErrors: number;
  internalErrors: number;
  takeovers: number;
  sessionsExpired: number;
  sessionsEvicted: number;
  willsPublished: number;
}
