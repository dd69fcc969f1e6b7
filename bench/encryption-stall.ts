// Encryption-stall scenario (issue 9 item 5): an anonymous publisher fans 4 MiB messages out to 5 logged-in,
// non-TLS (so encrypted) WebSocket receivers, while an unrelated anonymous pair ping-pongs through the broker.
// Reports the pair's round-trip p50/p99/max and the encrypted fan-out rate, for the server as shipped (large
// messages sealed in the seal pool) and with `sealAsyncFrom` set past any message (everything sealed on the
// event loop, as before the pool), alternating in one run. The server runs in its own process.
//
//   npm run bench:enc-stall [-- --duration 8 --rounds 1 --size 4194304 --receivers 5]
import { spawn, type ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { BohoSession } from '../src/crypto/boho.js';
import { MSG, PAYLOAD } from '../src/protocol/codes.js';
import { encodeSignal, encodeTagMessage } from '../src/protocol/messages.js';
import { BENCH_DIST } from './lib/procs.js';
import { quantile } from './lib/stats.js';

interface Opts {
  duration: number;
  rounds: number;
  size: number;
  receivers: number;
}

function parse(argv: string[]): Opts {
  const o: Opts = { duration: 8, rounds: 1, size: 4 * 1024 * 1024, receivers: 5 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--duration') o.duration = v;
    else if (argv[i] === '--rounds') o.rounds = v;
    else if (argv[i] === '--size') o.size = v;
    else if (argv[i] === '--receivers') o.receivers = v;
    else throw new Error(`unknown flag ${argv[i]}`);
  }
  return o;
}

// ---- a small WebSocket client: whole messages in, a queue of waiters ----

class Client {
  private readonly queue: Buffer[] = [];
  private waiter: ((msg: Buffer) => void) | null = null;
  /** When set, messages go here instead of the queue (receivers count bytes without keeping them). */
  onMessage: ((msg: Buffer) => void) | null = null;
  readonly boho = new BohoSession();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      if (this.onMessage) return this.onMessage(data);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(data);
      } else this.queue.push(data);
    });
  }

  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(msg: Uint8Array): void {
    this.ws.send(msg);
  }

  next(timeoutMs = 10_000): Promise<Buffer> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message in time')), timeoutMs);
      this.waiter = (msg) => {
        clearTimeout(timer);
        resolve(msg);
      };
    });
  }

  /** Greeting, then an anonymous CID (or a login when `idKey` is given). */
  async start(idKey?: [string, string]): Promise<void> {
    const hello = await this.next();
    await this.next(); // SERVER_READY
    if (idKey) {
      this.send(this.boho.authReq(idKey[0], idKey[1], hello)!);
      await this.next(); // QUOTA_LEVEL
      if (!this.boho.verifyAuthRes(await this.next())) throw new Error('login failed');
    }
    this.send(Buffer.from([MSG.CID_REQ]));
    await this.next();
  }

  /** SUBSCRIBE (sealed when logged in), confirmed by an IAM round trip. */
  async subscribe(tag: string): Promise<void> {
    const msg = encodeTagMessage(MSG.SUBSCRIBE, tag);
    this.send(this.boho.authorized ? this.boho.encrypt488(msg)! : msg);
    this.send(Buffer.from([MSG.IAM]));
    await this.next();
  }

  close(): void {
    this.ws.terminate();
  }
}

// ---- the server process ----

async function startServer(auth: string, sealAsyncFrom: number | null): Promise<{ proc: ChildProcess; port: number }> {
  const args = [BENCH_DIST + 'servers/iosig.js', '--port', '0', '--no-http', '--auth', auth];
  if (sealAsyncFrom !== null) args.push('--seal-async-from', String(sealAsyncFrom));
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let acc = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => {
      acc += d;
      const m = /READY (\d+)/.exec(acc);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  return { proc, port };
}

interface Result {
  mode: string;
  publishes: number;
  mibPerSecond: number;
  roundTrips: number;
  p50: number;
  p99: number;
  max: number;
}

async function runOnce(o: Opts, mode: 'seal pool' | 'event loop'): Promise<Result> {
  const ids = Array.from({ length: o.receivers }, (_, i) => [`rx${i}`, `key${i}`] as [string, string]);
  const auth = ids.map(([id, key], i) => `${id}.${key}.RX${i}.3`).join(',');
  const server = await startServer(auth, mode === 'seal pool' ? null : Number.MAX_SAFE_INTEGER);
  const clients: Client[] = [];
  try {
    const receivers: Client[] = [];
    for (const idKey of ids) {
      const c = await Client.open(server.port);
      clients.push(c);
      await c.start(idKey);
      await c.subscribe('bulk');
      receivers.push(c);
    }
    const [publisher, a, b] = await Promise.all([0, 1, 2].map(() => Client.open(server.port)));
    clients.push(publisher!, a!, b!);
    for (const c of [publisher!, a!, b!]) await c.start();
    await a!.subscribe('pp-a');
    await b!.subscribe('pp-b');

    // Receivers count whole encrypted messages; the publisher sends the next one when all have the last one.
    const payload = Buffer.alloc(o.size, 0x5a);
    const message = encodeSignal('bulk', PAYLOAD.BINARY, payload);
    let publishes = 0;
    let arrived = 0;
    let stop = false;
    const publishNext = (): void => {
      if (stop) return;
      publishes++;
      arrived = 0;
      publisher!.send(message);
    };
    for (const r of receivers) {
      r.onMessage = (msg) => {
        if (msg[0] === MSG.ENC_488 && msg.readUInt32LE(1) === message.length && ++arrived === receivers.length) publishNext();
      };
    }

    const rtts: number[] = [];
    const pinger = (async () => {
      while (!stop) {
        const start = performance.now();
        a!.send(encodeSignal('pp-b', PAYLOAD.TEXT, Buffer.from('ping\0')));
        await b!.next(60_000);
        b!.send(encodeSignal('pp-a', PAYLOAD.TEXT, Buffer.from('pong\0')));
        await a!.next(60_000);
        rtts.push(performance.now() - start);
      }
    })();
    const started = performance.now();
    publishNext();
    await new Promise((r) => setTimeout(r, o.duration * 1000));
    stop = true;
    const elapsed = (performance.now() - started) / 1000;
    await pinger;
    const sorted = [...rtts].sort((x, y) => x - y);
    const delivered = (publishes - 1 + arrived / receivers.length) * receivers.length * o.size;
    return {
      mode,
      publishes,
      mibPerSecond: delivered / (1024 * 1024) / elapsed,
      roundTrips: rtts.length,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted.at(-1) ?? NaN,
    };
  } finally {
    for (const c of clients) c.close();
    server.proc.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  console.log(
    `node ${process.version}; ${o.receivers} logged-in ws receivers, ${o.size / 1048576} MiB messages, ` +
      `${o.duration} s per cell, ${o.rounds} round(s); target: pair round-trip p99 < 50 ms\n`,
  );
  console.log('| sealing | publishes | encrypted fan-out MiB/s | pair round trips | p50 ms | p99 ms | max ms | p99 < 50 ms |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (let round = 0; round < o.rounds; round++) {
    for (const mode of ['seal pool', 'event loop'] as const) {
      const r = await runOnce(o, mode);
      console.log(
        `| ${r.mode} | ${r.publishes} | ${r.mibPerSecond.toFixed(1)} | ${r.roundTrips} | ${r.p50.toFixed(1)} | ` +
          `${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.p99 < 50 ? 'met' : 'not met'} |`,
      );
    }
  }
}

await main();
