// Launcher for the published iosignal 2.2.1 server (the baseline).
// Usage: node dist/bench/servers/iosignal.js --port N --cong N   (explicit, non-zero ports:
// iosignal treats 0 as "no listener"). Prints `READY <wsPort> <congPort>`.
// timeout 600000 ms keeps the keepalive sweep out of the measurement window.

import './gc-on-signal.js';
function arg(name: string): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} <port> (non-zero) is required`);
  return v;
}

const port = arg('--port');
const congPort = arg('--cong');
// Specifier in a variable: iosignal ships no type declarations.
const spec = 'iosignal';
const { Server } = (await import(spec)) as { Server: new (o: object) => IosignalServer };

interface Listener { once(ev: string, cb: (...a: unknown[]) => void): void; address(): unknown }
interface IosignalServer { wss: Listener; congServer: Listener }

const s = new Server({ port, congPort, timeout: 600000 });
const listening = (l: Listener): Promise<void> => new Promise((resolve, reject) => {
  if (l.address()) { resolve(); return; }
  l.once('listening', () => resolve());
  l.once('error', (e) => reject(e));
});
await Promise.all([listening(s.wss), listening(s.congServer)]);
console.log(`READY ${port} ${congPort}`);
