// The MQTT engine over an in-memory byte pipe: a hub on the in-memory broker and a manual clock, and model clients
// that speak through mqtt-packet (encode what they send, parse what they get) — real MQTT bytes, no sockets.
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { MqttHub } from '../../src/mqtt/hub.js';
import { MemoryMqttBroker, type MemoryBrokerOptions } from '../../src/mqtt/memory-broker.js';
import type { MqttConnection, MqttTransport } from '../../src/mqtt/connection.js';
import type { MqttLimits } from '../../src/mqtt/options.js';
import { ManualClock } from '../kit/manual-clock.js';

export class PipeClient implements MqttTransport {
  readonly received: Packet[] = [];
  readonly rawOut: Buffer[] = [];
  parseErrors: string[] = [];
  closedByServer = false;
  conn!: MqttConnection;
  private readonly parser;
  remoteAddress = '127.0.0.1';
  tls = false;
  backlogBytes = 0;

  constructor(readonly version: 3 | 4 | 5) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (p: Packet) => this.received.push(p));
    this.parser.on('error', (e: Error) => this.parseErrors.push(e.message));
  }

  // MqttTransport (server side)
  write(bytes: Buffer): void {
    this.rawOut.push(bytes);
    this.parser.parse(bytes);
  }
  close(): void {
    this.closedByServer = true;
  }
  backlog(): number {
    return this.backlogBytes;
  }

  // client side
  send(packet: Packet): void {
    this.conn.feed(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }
  sendRaw(bytes: Buffer | number[]): void {
    this.conn.feed(Buffer.from(bytes));
  }
  /** Packets of one kind received so far. */
  of<C extends Packet['cmd']>(cmd: C): Array<Extract<Packet, { cmd: C }>> {
    return this.received.filter((p) => p.cmd === cmd) as Array<Extract<Packet, { cmd: C }>>;
  }
  last(): Packet | undefined {
    return this.received[this.received.length - 1];
  }
  take(): Packet[] {
    return this.received.splice(0, this.received.length);
  }
  /** The network drops (no DISCONNECT). */
  drop(): void {
    this.conn.transportClosed();
  }
}

export interface Scene {
  hub: MqttHub;
  broker: MemoryMqttBroker;
  clock: ManualClock;
  logs: string[];
  /** Opens a connection (nothing sent yet). */
  open(version?: 3 | 4 | 5): PipeClient;
  /** Opens and sends CONNECT; returns the client (check its CONNACK). */
  connect(clientId: string, version?: 3 | 4 | 5, extra?: Record<string, unknown>): PipeClient;
}

export function scene(limits: Partial<MqttLimits> = {}, brokerOptions: MemoryBrokerOptions = {}): Scene {
  const clock = new ManualClock();
  const broker = new MemoryMqttBroker(brokerOptions);
  const logs: string[] = [];
  const hub = new MqttHub({ port: broker, limits, clock, log: (line) => logs.push(line) });
  const open = (version: 3 | 4 | 5 = 4): PipeClient => {
    const client = new PipeClient(version);
    client.conn = hub.accept(client);
    return client;
  };
  const connect = (clientId: string, version: 3 | 4 | 5 = 4, extra: Record<string, unknown> = {}): PipeClient => {
    const client = open(version);
    client.send({
      cmd: 'connect',
      protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: version,
      clientId,
      clean: true,
      keepalive: 0,
      ...extra,
    } as Packet);
    return client;
  };
  return { hub, broker, clock, logs, open, connect };
}

/** The payloads of the PUBLISH packets a client received, as text. */
export function texts(client: PipeClient): string[] {
  return client.of('publish').map((p) => Buffer.from(p.payload).toString());
}
