// Two iosig nodes in one process joined by a memory hub (src/cluster/memory-links.ts): the cluster bench's
// cross-node ping-pong over the in-memory bus, which isolates the bus's own cost from Redis's.
// Usage: node dist/bench/servers/memory-pair.js <wsA> <congA> <wsB> <congB>. Prints `READY` once both listen.
import { createServer } from '../../src/index.js';
import { MemoryHub } from '../../src/cluster/memory-links.js';

const [wsA, congA, wsB, congB] = process.argv.slice(2, 6).map(Number);
const hub = new MemoryHub();
const node = (id: string, port: number, congPort: number) =>
  createServer({ port, congPort, host: '127.0.0.1', timeout: 600000, cluster: { hub, nodeId: id, prefix: 'iosigmem' } });
const [a, b] = await Promise.all([node('memA', wsA!, congA!), node('memB', wsB!, congB!)]);
console.log('READY');
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void Promise.all([a.close(), b.close()]).then(() => process.exit(0)));
