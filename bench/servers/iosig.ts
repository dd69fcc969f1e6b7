// Launcher for the iosig server under test.
// Usage: node dist/bench/servers/iosig.js --port N --cong N [--no-http] [--auth id.key.cid.level,...]
//        [--seal-async-from bytes] [--root <checkout>]   (0 = any free port; --root loads another built
//        checkout's dist/src, the `iosig-base` of an A/B).
// Prints `READY <wsPort> <congPort>`. With HTTP on (the default) the runner scrapes /metrics every second
// from its own process, like Prometheus would, so `iosig` vs `iosig-nohttp` measures what metrics cost.
//
// The module is loaded through a path in a variable so this file compiles even
// while src/index.ts does not exist yet.

import './gc-on-signal.js';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

interface IosigServer {
  wsPort?: number;
  port?: number;
  congPort?: number;
  address?: () => unknown;
  close?: () => unknown;
}

const port = arg('--port', 0);
const congPort = arg('--cong', 0);
const rootAt = process.argv.indexOf('--root');
const spec = rootAt >= 0
  ? pathToFileURL(join(resolve(process.argv[rootAt + 1]!), 'dist/src/index.js')).href
  : new URL('../../src/index.js', import.meta.url).href;
const mod = (await import(spec)) as { createServer: (o: object) => Promise<IosigServer> | IosigServer };
const http = !process.argv.includes('--no-http');
const authAt = process.argv.indexOf('--auth');
const auth = authAt >= 0 ? { auth: { param: process.argv[authAt + 1] } } : {};
const sealAt = process.argv.indexOf('--seal-async-from');
const seal = sealAt >= 0 ? { sealAsyncFrom: Number(process.argv[sealAt + 1]) } : {};
// Every load generator connects from 127.0.0.1, so the per-address connection cap (default 1024) is lifted, and so
// are the per-address budget of sockets still opening (default 64: the storm keeps 256 connects in flight, and
// CongSocket sockets count until their first frame) and the per-address shares of the channel and retained caps
// (an older checkout ignores the options it does not know).
const shares = { capShares: { share: 1, reserve: 0 } };
const s = await mod.createServer({ port, congPort, host: '127.0.0.1', timeout: 600000, http, maxConnectionsPerAddress: 0, maxHandshakesPerAddress: 0, ...shares, ...auth, ...seal });

// Prefer the ports the server reports (they differ from ours when we passed 0).
const wsPort = typeof s.wsPort === 'number' && s.wsPort > 0 ? s.wsPort
  : typeof s.port === 'number' && s.port > 0 ? s.port : port;
const cPort = typeof s.congPort === 'number' && s.congPort > 0 ? s.congPort : congPort;
console.log(`READY ${wsPort} ${cPort}`);

