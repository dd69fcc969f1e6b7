// The cluster benchmark's Redis floor: a process that republishes every message of one Redis channel to another,
// with ioredis alone (no iosig). The bench pings through it to time two Redis pub/sub hops on this host.
//   node dist/bench/redis-echo.js <redis-url> <in-channel> <out-channel>
import { Redis } from 'ioredis';

const [url, inChannel, outChannel] = process.argv.slice(2);
if (!url || !inChannel || !outChannel) throw new Error('usage: redis-echo <redis-url> <in-channel> <out-channel>');
const pub = new Redis(url);
const sub = new Redis(url);
sub.on('messageBuffer', (_channel: Buffer, payload: Buffer) => void pub.publish(outChannel, payload));
await sub.subscribe(inChannel);
await pub.ping();
console.log('READY');
process.on('SIGTERM', () => process.exit(0));
