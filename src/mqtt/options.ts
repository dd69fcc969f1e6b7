// Every bound of the MQTT engine, with its default. One frozen object per hub; README/docs name the same numbers.

/** Every bound of the MQTT engine (README, MQTT: the limits table); `DEFAULT_MQTT_LIMITS` has the defaults. */
export interface MqttLimits {
  /** Largest packet accepted from a client (whole packet, fixed header included); CONNACK Maximum Packet Size. */
  maxPacketSize: number;
  /** Unacknowledged QoS 1/2 PUBLISHes a client may send us at once (CONNACK Receive Maximum). */
  receiveMaximum: number;
  /** QoS 1/2 PUBLISHes we keep in flight to one client at most (its own Receive Maximum may lower it). */
  maxInflightOut: number;
  /** Messages queued per session (offline, or waiting for the in-flight window). */
  maxQueuedMessages: number;
  /** Bytes of payload queued per session. */
  maxQueuedBytes: number;
  /** Bytes of payload queued over all sessions of the hub. */
  maxQueuedBytesTotal: number;
  /** Whether QoS 0 messages are queued for offline sessions (they always wait for a full window when online). */
  queueQos0Offline: boolean;
  /** Sessions kept without a connection; past it the one offline longest ends. */
  maxOfflineSessions: number;
  /** Longest session expiry granted, seconds; a longer request is lowered and CONNACK says so (MQTT 5). */
  maxSessionExpiry: number;
  /** Session expiry of an MQTT 3.1.1 client connecting with cleanSession=0, seconds (3.1.1 has no expiry). */
  v3SessionExpiry: number;
  /** Subscriptions per session. */
  maxSubscriptionsPerSession: number;
  /** Topic aliases a client may set towards us (CONNACK Topic Alias Maximum). */
  topicAliasMaximum: number;
  /** Topic aliases we use towards a client at most (its CONNECT Topic Alias Maximum may lower it; 0 = none). */
  maxOutboundTopicAliases: number;
  /** Longest keepalive accepted, seconds; 0 = any. Longer (or 0) requests get this value (MQTT 5: Server Keep Alive). */
  maxKeepAlive: number;
  /** Time a new connection has to send CONNECT, ms. */
  connectTimeoutMs: number;
  /** Longest client identifier, bytes. */
  maxClientIdBytes: number;
  /** Bytes a client may send while its CONNECT is being decided (authentication). */
  maxPendingBytes: number;
  /** Longest Will Delay Interval honoured, seconds. */
  maxWillDelay: number;
  /** Bytes a client may leave unread in its socket before QoS 0 deliveries to it are dropped (QoS 1/2 wait). */
  maxWriteBacklog: number;
}

/** The engine's defaults (README, MQTT). */
export const DEFAULT_MQTT_LIMITS: Readonly<MqttLimits> = Object.freeze({
  maxPacketSize: 1_048_576,
  receiveMaximum: 64,
  maxInflightOut: 32,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 4_194_304,
  maxQueuedBytesTotal: 268_435_456,
  queueQos0Offline: false,
  maxOfflineSessions: 100_000,
  maxSessionExpiry: 86_400,
  v3SessionExpiry: 86_400,
  maxSubscriptionsPerSession: 10_000,
  topicAliasMaximum: 64,
  maxOutboundTopicAliases: 64,
  maxKeepAlive: 0,
  connectTimeoutMs: 10_000,
  maxClientIdBytes: 256,
  maxPendingBytes: 1_114_112,
  maxWillDelay: 86_400,
  maxWriteBacklog: 16_777_216,
});

/** The defaults with `overrides` applied; refuses values that would break the protocol. */
export function resolveLimits(overrides: Partial<MqttLimits> = {}): Readonly<MqttLimits> {
  const limits: MqttLimits = { ...DEFAULT_MQTT_LIMITS, ...overrides };
  const positive: Array<keyof MqttLimits> = ['maxPacketSize', 'receiveMaximum', 'maxInflightOut', 'maxClientIdBytes', 'connectTimeoutMs'];
  for (const key of positive) {
    const value = limits[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new RangeError(`mqtt ${key} must be a positive integer`);
  }
  if (limits.receiveMaximum > 65_535 || limits.maxInflightOut > 65_535) throw new RangeError('mqtt receiveMaximum and maxInflightOut are at most 65535');
  if (limits.topicAliasMaximum > 65_535 || limits.maxOutboundTopicAliases > 65_535) throw new RangeError('mqtt topic alias maxima are at most 65535');
  if (limits.maxPacketSize > 268_435_460) throw new RangeError('mqtt maxPacketSize is at most 268435460');
  if (limits.maxKeepAlive > 65_535) throw new RangeError('mqtt maxKeepAlive is at most 65535');
  return Object.freeze(limits);
}

/** The server's MQTT bounds: the engine's, the retained store's and the $SYS period. */
export interface MqttServerLimits extends MqttLimits {
  /** MQTT retained messages kept (topics without iosig's `$`, whose channels retain in the router). */
  maxRetained: number;
  /** Payload bytes of those retained messages. */
  maxRetainedBytes: number;
  /** Seconds between two updates of the `$SYS/` topics; 0 = no `$SYS/` topics. */
  sysInterval: number;
}

/** The server's MQTT defaults: the engine's, 10 000 retained messages of 64 MiB in all, `$SYS/` every 10 s. */
export const DEFAULT_MQTT_SERVER_LIMITS: Readonly<MqttServerLimits> = Object.freeze({
  ...DEFAULT_MQTT_LIMITS,
  maxRetained: 10_000,
  maxRetainedBytes: 67_108_864,
  sysInterval: 10,
});

/** The server's MQTT defaults with `overrides` applied; refuses values that would break the protocol. */
export function resolveMqttServerLimits(overrides: Partial<MqttServerLimits> = {}): Readonly<MqttServerLimits> {
  const { maxRetained, maxRetainedBytes, sysInterval, ...engine } = { ...DEFAULT_MQTT_SERVER_LIMITS, ...overrides };
  for (const [name, value] of Object.entries({ maxRetained, maxRetainedBytes, sysInterval })) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`mqtt ${name} must be a non-negative integer`);
  }
  return Object.freeze({ ...resolveLimits(engine), maxRetained, maxRetainedBytes, sysInterval });
}
