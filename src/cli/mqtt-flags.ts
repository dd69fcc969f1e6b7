// io-server's MQTT flags (issue 19): -M / --listen-mqtt, --mqtt-ws, and one flag per MQTT bound, each with the
// default it has in src/mqtt/options.ts (printed in --help from the same table, so they cannot disagree).
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_MQTT_SERVER_LIMITS, type MqttServerLimits } from '../mqtt/options.js';

export interface MqttFlags {
  listenMqtt?: number;
  mqttWs?: boolean;
  mqttQueueQos0?: boolean;
  [flag: `mqtt${string}`]: number | boolean | undefined;
}

type NumericLimit = Exclude<keyof MqttServerLimits, 'queueQos0Offline'>;

/** Flag → limit, with what the number means. */
const LIMIT_FLAGS: ReadonlyArray<[flag: string, key: NumericLimit, what: string]> = [
  ['--mqtt-max-packet <bytes>', 'maxPacketSize', 'largest MQTT packet accepted from a client (told in CONNACK)'],
  ['--mqtt-receive-maximum <n>', 'receiveMaximum', 'unacknowledged QoS 1/2 PUBLISHes a client may send at once'],
  ['--mqtt-max-inflight <n>', 'maxInflightOut', 'QoS 1/2 messages in flight to one client'],
  ['--mqtt-max-queued <n>', 'maxQueuedMessages', 'messages queued per MQTT session'],
  ['--mqtt-max-queued-bytes <bytes>', 'maxQueuedBytes', 'payload bytes queued per MQTT session'],
  ['--mqtt-max-queued-total <bytes>', 'maxQueuedBytesTotal', 'payload bytes queued over all MQTT sessions'],
  ['--mqtt-max-offline-sessions <n>', 'maxOfflineSessions', 'MQTT sessions kept without a connection'],
  ['--mqtt-max-session-expiry <s>', 'maxSessionExpiry', 'longest MQTT 5 session expiry granted'],
  ['--mqtt-v3-session-expiry <s>', 'v3SessionExpiry', 'how long an MQTT 3.1.1 persistent session outlives its connection'],
  ['--mqtt-max-subscriptions <n>', 'maxSubscriptionsPerSession', 'subscriptions per MQTT session'],
  ['--mqtt-topic-aliases <n>', 'topicAliasMaximum', 'topic aliases a client may set'],
  ['--mqtt-out-topic-aliases <n>', 'maxOutboundTopicAliases', 'topic aliases the broker uses towards a client (0 = none)'],
  ['--mqtt-max-keepalive <s>', 'maxKeepAlive', 'longest keepalive accepted (0 = any)'],
  ['--mqtt-connect-timeout <ms>', 'connectTimeoutMs', 'time a new MQTT connection has to send CONNECT'],
  ['--mqtt-max-client-id <bytes>', 'maxClientIdBytes', 'longest client identifier'],
  ['--mqtt-max-pending <bytes>', 'maxPendingBytes', 'bytes a client may send while its CONNECT is decided'],
  ['--mqtt-max-will-delay <s>', 'maxWillDelay', 'longest Will Delay honoured'],
  ['--mqtt-max-write-backlog <bytes>', 'maxWriteBacklog', 'bytes a client may leave unread before QoS 0 to it is dropped'],
  ['--mqtt-max-retained <n>', 'maxRetained', 'MQTT retained messages kept'],
  ['--mqtt-max-retained-bytes <bytes>', 'maxRetainedBytes', 'payload bytes of MQTT retained messages'],
  ['--mqtt-sys-interval <s>', 'sysInterval', 'seconds between $SYS/ updates (0 = none)'],
];

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

function port(value: string): number {
  const n = wholeNumber(value);
  if (n > 65_535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return n;
}

/** commander's property name of a flag: `--mqtt-max-packet <bytes>` → `mqttMaxPacket`. */
function propertyOf(flag: string): string {
  return flag
    .split(' ')[0]!
    .slice(2)
    .replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

export function addMqttOptions(command: Command): Command {
  command
    .option('-M, --listen-mqtt <port>', 'MQTT 3.1.1 and 5 port (TLS with --tls-cert, client certificates with --tls-ca); 0 picks a free port', port)
    .option('--mqtt-ws', 'MQTT over WebSocket on the -l port too (subprotocol mqtt, the way browser MQTT clients connect)')
    .option('--mqtt-queue-qos0', 'queue QoS 0 messages for offline persistent MQTT sessions (default: dropped)');
  for (const [flag, key, what] of LIMIT_FLAGS) command.option(flag, `${what} (default: ${DEFAULT_MQTT_SERVER_LIMITS[key]})`, wholeNumber);
  return command;
}

/** The MQTT bounds the flags set (only those given). */
export function mqttLimitsInput(opts: MqttFlags): Partial<MqttServerLimits> {
  const limits: Partial<Record<keyof MqttServerLimits, number | boolean>> = {};
  for (const [flag, key] of LIMIT_FLAGS) {
    const value = opts[propertyOf(flag) as `mqtt${string}`];
    if (typeof value === 'number') limits[key] = value;
  }
  if (opts.mqttQueueQos0 === true) limits.queueQos0Offline = true;
  return limits as Partial<MqttServerLimits>;
}
