// The lab's server-side program on iosig: an iosig/client script instead of websocketd + wsd_server.py.
// It logs every message from the devices on `lab` to ./serverLog, checks ./Status every second, pushes
// "Status: <ts> - <seq> - <status>" when it changes (seq from 100), and prints the round trip of each ACK.
// usage: node server.mjs [ws://localhost:7777]
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { IoClient } from 'iosig/client';

const url = process.argv[2] ?? 'ws://localhost:7777';
const client = new IoClient(url);
const sentAt = new Map(); // seq → time the Status went out
let seq = 100;
let last = null;

const stamp = () => new Date().toISOString().replace('T', ' ').replace('Z', '');
if (!existsSync('Status')) writeFileSync('Status', '0\n');

client.listen('lab', (message) => {
  const text = String(message.values[0]);
  if (text.startsWith('Status:')) return; // our own push, delivered back to us
  appendFileSync('serverLog', `${stamp()} ${text}\n`);
  const ack = /^ACK: .* - (\d+)$/.exec(text);
  if (ack && sentAt.has(Number(ack[1]))) {
    const rtt = performance.now() - sentAt.get(Number(ack[1]));
    sentAt.delete(Number(ack[1]));
    console.log(`ACK for Status ${ack[1]}: round trip ${rtt.toFixed(1)} ms`);
  }
});

setInterval(() => {
  const status = readFileSync('Status', 'utf8').trim();
  if (status === last) return;
  last = status;
  const n = seq++;
  sentAt.set(n, performance.now());
  client.signal('lab', `Status: ${stamp()} - ${n} - ${status}`);
}, 1000);
client.on('ready', (cid) => console.log(`ready as ${cid}; watching ./Status`));
