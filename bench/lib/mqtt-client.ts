// A load-generator MQTT client on a raw TCP socket: packets are encoded with mqtt-packet once and reused; what the
// broker sends is only cut into packets (fixed header + Remaining Length) and read as far as the load needs
// (type, packet identifier), so one process can drive thousands of connections.
import net from 'node:net';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

export type Version = 4 | 5;

export interface Incoming {
  type: number;
  flags: number;
  /** The packet's body (after the fixed header); a view, valid during the callback only. */
  body: Buffer;
}

export const encode = (packet: Packet, version: Version): Buffer => mqttPacket.generate(packet, { protocolVersion: version });

export class BenchClient {
  private pending: Buffer = Buffer.alloc(0);
  onPacket: (p: Incoming) => void = () => {};
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  /** Connects and waits for a successful CONNACK. */
  /** `clean` false: a persistent session (MQTT 5: with an hour's expiry). */
  static async connect(port: number, clientId: string, version: Version, host = '127.0.0.1', clean = true): Promise<BenchClient> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new BenchClient(socket);
    const connack = client.next(0x2);
    const expiry = !clean && version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {};
    socket.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean, keepalive: 0, ...expiry } as Packet, version));
    const ack = await connack;
    const code = ack.body[1];
    if (code !== 0) throw new Error(`CONNACK ${code} for ${clientId}`);
    return client;
  }

  /** The next packet of `type`, once (packets of other types still go to onPacket). */
  next(type: number): Promise<Incoming> {
    return new Promise((resolve) => {
      const previous = this.onPacket;
      this.onPacket = (p) => {
        if (p.type === type) {
          this.onPacket = previous;
          resolve({ ...p, body: Buffer.from(p.body) });
        } else previous(p);
      };
    });
  }

  async subscribe(topic: string, qos: 0 | 1 | 2, version: Version): Promise<void> {
    const suback = this.next(0x9);
    this.socket.write(encode({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet, version));
    await suback;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    for (;;) {
      if (buf.length - at < 2) break;
      let length = 0;
      let mul = 1;
      let i = at + 1;
      let complete = false;
      while (i < buf.length && i < at + 5) {
        const b = buf[i++]!;
        length += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || buf.length - i < length) break;
      this.onPacket({ type: buf[at]! >> 4, flags: buf[at]! & 0x0f, body: buf.subarray(i, i + length) });
      at = i + length;
    }
    this.pending = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
    if (this.pending.length > 0 && at > 0) this.pending = Buffer.from(this.pending);
    buf = this.pending;
  }
}

/** The packet identifier of a QoS 1/2 PUBLISH body (after the topic). */
export function publishPacketId(body: Buffer): number {
  const topicLength = body.readUInt16BE(0);
  return body.readUInt16BE(2 + topicLength);
}

/** Opens `count` connections, `parallel` at a time. */
export async function openMany<C>(count: number, parallel: number, open: (i: number) => Promise<C>): Promise<C[]> {
  const out: C[] = new Array(count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      out[i] = await open(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
  return out;
}
