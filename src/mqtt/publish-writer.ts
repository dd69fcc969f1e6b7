// The PUBLISH bytes one client gets for a delivery: its topic view, its protocol version, its Maximum Packet Size
// and the topic aliases we set towards it (least recently used one reused once its Topic Alias Maximum is reached).
// Forms that do not depend on the client (no alias, no subscription identifier, no expiry) are encoded once per
// message and shared (MqttMessage.encodings).
import type { Clock } from '../clock.js';
import { clientTopic } from './channel-map.js';
import type { Delivery } from './context.js';
import type { MqttIdentity, MqttMessage } from './port.js';
import { encodePublish, publishSize, withPacketId, type EncodedPublish, type PublishProperties } from './publish-encoder.js';

/** Encodings kept per message (one per protocol version × QoS × RETAIN × topic view in practice). */
const ENCODINGS_PER_MESSAGE = 4;

export class PublishWriter {
  /** Topic → alias, least recently used first (made at the first alias: most clients never allow one). */
  private aliases: Map<string, number> | null = null;

  constructor(
    private readonly version: 3 | 4 | 5,
    private readonly identity: MqttIdentity,
    private readonly maxPacket: number,
    private readonly aliasMax: number,
    private readonly clock: Clock,
  ) {}

  /** The PUBLISH for `delivery` (its packet identifier set for QoS > 0), or null when it is too large for the client. */
  bytes(delivery: Delivery, dup: boolean): Buffer | null {
    const m = delivery.message;
    const topic = clientTopic(m.topic, delivery.view, this.identity);
    let properties: PublishProperties | null = null;
    let key: string | null = null;
    let shownTopic = topic;
    let newAlias = 0;
    if (this.version === 5) {
      properties = {};
      if (m.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = m.payloadFormatIndicator;
      if (m.contentType !== undefined) properties.contentType = m.contentType;
      if (m.responseTopic !== undefined) properties.responseTopic = this.responseTopic(m.responseTopic);
      if (m.correlationData !== undefined) properties.correlationData = m.correlationData;
      if (m.userProperties !== undefined) properties.userProperties = m.userProperties;
      if (m.expiresAt !== undefined) properties.messageExpiryInterval = Math.max(1, Math.ceil((m.expiresAt - this.clock.now()) / 1000));
      if (delivery.subscriptionIds.length > 0) properties.subscriptionIdentifiers = delivery.subscriptionIds;
      if (this.aliasMax > 0) {
        const aliases = (this.aliases ??= new Map());
        const alias = aliases.get(topic);
        if (alias !== undefined) {
          properties.topicAlias = alias;
          shownTopic = '';
          aliases.delete(topic); // most recently used goes last
          aliases.set(topic, alias);
        } else {
          newAlias = aliases.size < this.aliasMax ? aliases.size + 1 : aliases.values().next().value!;
          properties.topicAlias = newAlias;
        }
      } else if (m.expiresAt === undefined && delivery.subscriptionIds.length === 0) key = `5|${delivery.qos}|${delivery.retain ? 1 : 0}|${topic}`;
    } else key = `4|${delivery.qos}|${delivery.retain ? 1 : 0}|${topic}`;

    let encoded: EncodedPublish | undefined = key === null ? undefined : m.encodings?.find((e) => e.key === key);
    // Written for this delivery (its packet identifier and DUP) and sent as it is; later ones copy it (withPacketId).
    const fresh = encoded === undefined;
    if (!encoded) {
      const fields = { topic: shownTopic, qos: delivery.qos, retain: delivery.retain, dup: dup && delivery.qos > 0, packetId: delivery.packetId, payload: m.payload };
      if (publishSize(fields, properties) > this.maxPacket) return null; // [MQTT-3.1.2-25]
      encoded = encodePublish(fields, properties);
      if (key !== null) {
        const list = ((m as { encodings?: MqttMessage['encodings'] }).encodings ??= []);
        if (list.length < ENCODINGS_PER_MESSAGE) list.push({ key, ...encoded });
      }
    } else if (encoded.bytes.length > this.maxPacket) return null;
    if (newAlias > 0) {
      // The alias now names this topic (a reused one forgets its old topic).
      const aliases = this.aliases!;
      for (const [t, a] of aliases) {
        if (a === newAlias) {
          aliases.delete(t);
          break;
        }
      }
      aliases.set(topic, newAlias);
    }
    return delivery.qos === 0 || fresh ? encoded.bytes : withPacketId(encoded, delivery.packetId, dup);
  }

  /** A stored response topic as this client can publish to it (its own home channel shows as `$iosig/home/…`). */
  private responseTopic(routing: string): string {
    const home = `$iosig/home/${this.identity.home}/`;
    return routing.startsWith(home) ? `$iosig/home/${routing.slice(home.length)}` : routing;
  }
}
