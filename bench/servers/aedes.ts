// The aedes MQTT broker (npm, a baseline for bench/mqtt-brokers.ts) on a TCP port: `node dist/bench/servers/aedes.js <port>`.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2] ?? 1883);
const broker = await Aedes.createBroker();
const server = createServer((socket) => broker.handle(socket));
server.listen(port, '127.0.0.1', () => console.log(`aedes listening on ${port}`));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => broker.close(() => server.close(() => process.exit(0))));
