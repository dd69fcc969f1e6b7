// The engine on a real TCP listener (node:net) with the in-memory broker: third-party clients against the engine
// alone (clients.test.ts runs the same cases against iosig's own -M listener).
import { createServer, type Server, type Socket } from 'node:net';
import { MqttHub } from '../../src/mqtt/hub.js';
import { MemoryMqttBroker, type MemoryBrokerOptions } from '../../src/mqtt/memory-broker.js';
import type { MqttLimits } from '../../src/mqtt/options.js';

export interface MqttTcpServer {
  port: number;
  hub: MqttHub;
  broker: MemoryMqttBroker;
  logs: string[];
  close(): Promise<void>;
}

export async function startMqttTcp(limits: Partial<MqttLimits> = {}, brokerOptions: MemoryBrokerOptions = {}, port = 0): Promise<MqttTcpServer> {
  const broker = new MemoryMqttBroker(brokerOptions);
  const logs: string[] = [];
  const hub = new MqttHub({ port: broker, limits, log: (line) => logs.push(line) });
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const conn = hub.accept({
      write: (bytes) => {
        if (!socket.destroyed) socket.write(bytes);
      },
      close: () => socket.end(),
      backlog: () => socket.writableLength,
      remoteAddress: socket.remoteAddress ?? '',
      tls: false,
    });
    socket.on('data', (chunk: Buffer) => conn.feed(chunk));
    socket.on('close', () => {
      sockets.delete(socket);
      conn.transportClosed();
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    hub,
    broker,
    logs,
    async close() {
      hub.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
