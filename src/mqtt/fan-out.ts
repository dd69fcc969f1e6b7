// One published message to every matching subscription of an index: one delivery per subscriber with all its
// matching subscriptions at once (overlapping filters give one PUBLISH with the highest QoS and every subscription
// identifier), and one member per matching shared group. Used by every MQTT broker port.
import type { MqttMessage, MqttSubscriber, SubscriptionOptions } from './port.js';
import type { TopicIndex } from './topic-index.js';

export class MatchFanOut {
  private seq = 0;
  private readonly seen = new Map<MqttSubscriber, { seq: number; matches: SubscriptionOptions[] }>();

  /** Delivers `message` through `deliver` (which must not throw); returns the deliveries made. */
  run(index: TopicIndex<MqttSubscriber, SubscriptionOptions>, message: MqttMessage, deliver: (s: MqttSubscriber, m: MqttMessage, matches: readonly SubscriptionOptions[]) => void): number {
    const seq = ++this.seq;
    const plain: MqttSubscriber[] = [];
    const shared: Array<[MqttSubscriber, SubscriptionOptions]> = [];
    index.match(message.topic, (subscriber, data, group) => {
      if (group) return void shared.push([subscriber, data]);
      let entry = this.seen.get(subscriber);
      if (!entry) this.seen.set(subscriber, (entry = { seq: 0, matches: [] }));
      if (entry.seq !== seq) {
        entry.seq = seq;
        entry.matches = [data];
        plain.push(subscriber);
      } else entry.matches.push(data);
    });
    for (const subscriber of plain) deliver(subscriber, message, this.seen.get(subscriber)!.matches);
    for (const [subscriber, data] of shared) deliver(subscriber, message, [data]);
    // Subscribers that left are forgotten now and then; the map never holds more than a few publishes' worth.
    if (this.seen.size > 4 * (plain.length + 1024)) this.seen.clear();
    return plain.length + shared.length;
  }
}
