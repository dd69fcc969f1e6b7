// The MQTT panel: connections, sessions, in-flight and queued messages, from the tick's metrics.mqtt (browser
// code). A server without an MQTT listener has no MQTT sample and the panel stays hidden.
import type { MetricsSample } from '../dashboard-types.js';
import { formatBytes, formatCount } from './format.js';

type MqttSample = NonNullable<MetricsSample['mqtt']>;

export function renderMqtt(panel: HTMLElement, summary: HTMLElement, mqtt: MqttSample | null): void {
  panel.hidden = mqtt === null;
  if (!mqtt) return;
  const dropped = mqtt.droppedQueueFull + mqtt.droppedTooLarge + mqtt.droppedExpired + mqtt.droppedBacklog + mqtt.droppedOffline;
  summary.textContent =
    `${formatCount(mqtt.connections)} connections · ${formatCount(mqtt.sessions)} sessions (${formatCount(mqtt.offlineSessions)} offline) · ` +
    `${formatCount(mqtt.inflight)} in flight · ${formatCount(mqtt.queued)} queued (${formatBytes(mqtt.queuedBytes)}) · ` +
    `${formatCount(mqtt.subscriptions)} subscriptions · ${formatCount(mqtt.retained)} retained · ` +
    `${formatCount(mqtt.publishesIn)} in · ${formatCount(mqtt.deliveries)} out · ${formatCount(dropped)} dropped`;
}
