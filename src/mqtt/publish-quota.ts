// The broker's size and rate quotas (`--quota signalSize,trafficRate,disconnect`, README "Limits") on what MQTT
// clients publish, as on what any iosig client sends: signalSize judges a PUBLISH's payload, trafficRate the
// client's messages and bytes per second (its level's `--level-rate`, else the quota table's byte rate). A publish
// over them is refused: PUBACK/PUBREC 0x97 Quota exceeded (a QoS 0 one is dropped); with the `disconnect` switch the
// client is closed instead, DISCONNECT 0x95 Packet too large or 0x96 Message rate too high (MQTT 5).
import type { Broker } from '../broker/broker.js';
import { ratesFor, SessionRate } from '../guard/rate-limits.js';
import { DEFAULT_LEVEL, QUOTA_TABLE } from '../protocol/codes.js';
import { RC } from './codes.js';
import type { MqttIdentity, Verdict } from './port.js';

interface ClientRate {
  rate: SessionRate;
  level: number;
  generation: number;
}

export class PublishQuota {
  /** Rates of the clients that published, by client identifier (forgotten at their close). */
  private readonly rates = new Map<string, ClientRate>();

  constructor(private readonly broker: Broker) {}

  /** 0 when the publish may go; a refusal code (0x97), or 0x95 / 0x96 when the client is to be closed. */
  verdict(clientId: string, identity: MqttIdentity, size: number): Verdict {
    const { broker } = this;
    const { useQuota } = broker.policy;
    if (!useQuota.signalSize && !useQuota.trafficRate) return RC.SUCCESS;
    const quota = QUOTA_TABLE[identity.level] ?? QUOTA_TABLE[DEFAULT_LEVEL]!;
    if (useQuota.signalSize && size > quota.signalSize) {
      broker.stats.overSize++;
      return this.violation(RC.PACKET_TOO_LARGE);
    }
    if (useQuota.trafficRate) {
      const now = broker.clock.now();
      const generation = broker.rateGeneration;
      let held = this.rates.get(clientId);
      if (!held || held.level !== identity.level || held.generation !== generation) {
        held = { rate: new SessionRate(ratesFor(identity.level, broker.options.access.levelRates, null), now), level: identity.level, generation };
        this.rates.set(clientId, held);
      }
      const verdict = held.rate.admit(size, now);
      if (verdict !== 'ok') return this.violation(RC.MESSAGE_RATE_TOO_HIGH);
    }
    return RC.SUCCESS;
  }

  forget(clientId: string): void {
    this.rates.delete(clientId);
  }

  /** Counted; the client is closed (and its close logged with the code) only under the `disconnect` switch. */
  private violation(closeCode: number): Verdict {
    const { broker } = this;
    broker.stats.quotaViolations++;
    return broker.policy.useQuota.disconnect ? closeCode : RC.QUOTA_EXCEEDED;
  }
}
