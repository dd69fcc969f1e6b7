// The read check of MQTT deliveries (issue 18, "a wildcard subscription never delivers a channel the subscriber may
// not read"). A wildcard filter the rules allow only in part is granted, as mosquitto does, and each channel it
// delivers — live or retained — is checked against the subscriber's read right; a filter that can match no
// readable channel is refused at SUBSCRIBE. Filters wholly readable need no check per delivery, until the rules
// change: from then on every delivery is checked (an MQTT subscription has no way to be ended by the server, so a
// revoked right stops what it delivers). Each check is the engine's cached decision (subject × channel); a
// denial is counted and logged (rate-limited) by the access check, never answered per message.
import type { FilterVerdict } from '../access/engine.js';
import type { MqttSubscriber } from './port.js';

export class MqttReadCheck {
  /** Subscribers holding filters granted in part, and those filters (routing form). */
  private readonly partial = new Map<MqttSubscriber, Set<string>>();
  /** The rules changed since some verdict was made: every delivery is checked. */
  private everyDelivery = false;
  /** The last topic asked about and the channel key it names (one message goes to many subscribers). */
  private lastTopic = '';
  private lastKey = '';

  /**
   * `channelOf(topic)`: what a routing topic names for the rules, as its SUBSCRIBE was checked (a channel key, or
   * the topic itself when it is no channel: `$SYS/…`, a unicast); `mayRead(subscriber, channel)`: the read right.
   */
  constructor(
    private readonly channelOf: (topic: string) => string,
    private readonly mayRead: (subscriber: MqttSubscriber, channel: string) => boolean,
  ) {}

  /** A subscription was granted with this verdict (a 'some' filter needs its deliveries checked). */
  granted(subscriber: MqttSubscriber, routingFilter: string, verdict: FilterVerdict): void {
    if (verdict !== 'some') return this.dropped(subscriber, routingFilter);
    let filters = this.partial.get(subscriber);
    if (!filters) this.partial.set(subscriber, (filters = new Set()));
    filters.add(routingFilter);
  }

  /** A subscription is gone. */
  dropped(subscriber: MqttSubscriber, routingFilter: string): void {
    const filters = this.partial.get(subscriber);
    if (!filters?.delete(routingFilter)) return;
    if (filters.size === 0) this.partial.delete(subscriber);
  }

  /** The rules in force changed: verdicts made before (if any subscription holds one) may be stale. */
  rulesChanged(subscriptions: number): void {
    if (subscriptions > 0) this.everyDelivery = true;
  }

  /** The last subscription is gone: no stale verdict is left. */
  noneLeft(): void {
    this.everyDelivery = false;
  }

  /** Whether a delivery on `topic` (routing form) may go to `subscriber`. */
  mayReceive(subscriber: MqttSubscriber, topic: string): boolean {
    if (!this.everyDelivery && (this.partial.size === 0 || !this.partial.has(subscriber))) return true;
    if (topic !== this.lastTopic) {
      this.lastTopic = topic;
      this.lastKey = this.channelOf(topic);
    }
    return this.mayRead(subscriber, this.lastKey);
  }
}
