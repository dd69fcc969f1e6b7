// MQTT retained messages by topic, within a count and a byte bound: the last one per topic, an empty payload
// clears [MQTT-3.3.1-6], a new topic past a bound is not kept (an update to a kept topic always is).
import type { MqttMessage } from './port.js';
import { hasWildcard, topicMatches } from './topic.js';

export class RetainedStore {
  private readonly messages = new Map<string, MqttMessage>();
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.messages.size;
  }

  get payloadBytes(): number {
    return this.bytes;
  }

  /** Keeps `message` (a copy without the engine's encodings) or clears its topic; false when a bound refused it. */
  keep(message: MqttMessage): boolean {
    const old = this.messages.get(message.topic);
    if (old) {
      this.bytes -= old.payload.length;
      this.messages.delete(message.topic);
    }
    if (message.payload.length === 0) return true;
    if (this.messages.size >= this.maxCount || this.bytes + message.payload.length > this.maxBytes) return false;
    const { encodings: _e, origin: _o, ...kept } = message;
    this.messages.set(message.topic, { ...kept, payload: Buffer.from(message.payload), origin: null });
    this.bytes += message.payload.length;
    return true;
  }

  get(topic: string): MqttMessage | undefined {
    return this.messages.get(topic);
  }

  /** Calls `visit` for each kept message whose topic matches `filter`. */
  matching(filter: string, visit: (message: MqttMessage) => void): void {
    if (!hasWildcard(filter)) {
      const one = this.messages.get(filter);
      if (one) visit(one);
      return;
    }
    for (const [topic, message] of this.messages) if (topicMatches(filter, topic)) visit(message);
  }
}
