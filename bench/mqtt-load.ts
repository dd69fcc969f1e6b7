// MQTT load scenarios against any broker on a TCP port (mosquitto, aedes, later iosig): QoS 0 fan-out (N
// subscribers × message size), QoS 1 publish-to-subscriber pairs, and the memory of idle connections. The broker's
// CPU and RSS are read from /proc/<pid> when its pid is known. Used by bench/mqtt-brokers.ts; also runnable alone:
//   node dist/bench/mqtt-load.js --port 1883 --pid <broker pid> [--scenarios fanout,qos1,qos1-persistent,idle] [--subs 1000]
//        [--payloads 64,1024] [--pairs 100] [--conns 10000] [--duration 5] [--warmup 1] [--version 4|5] [--window 32]
import { fileURLToPath } from 'node:url';
import type { Packet } from 'mqtt-packet';
import { BenchClient, encode, openMany, publishPacketId, type Version } from './lib/mqtt-client.js';
import { eachFlag, list } from './lib/flags.js';
import { procCpuUs, procRssBytes, sleep } from './lib/procs.js';
import { connectReady } from './lib/conn.js';
import { MSG } from '../src/protocol/codes.js';
import { encodeSubscribeReq } from '../src/protocol/messages.js';

export interface LoadTarget {
  port: number;
  /** The broker's pid for CPU and RSS, or 0. */
  pid: number;
  version: Version;
}

export interface FanOutResult {
  subs: number;
  payload: number;
  deliveriesPerSec: number;
  /** Broker CPU per delivery, µs (NaN without a pid). */
  cpuUsPerDelivery: number;
}

export interface PairsResult {
  pairs: number;
  roundTripsPerSec: number;
  cpuUsPerRoundTrip: number;
}

export interface IdleResult {
  conns: number;
  bytesPerConn: number;
  cpuUsPerConn: number;
}

const cpu = (pid: number): number => (pid > 0 ? procCpuUs(pid) : NaN);
let runId = 0;

/** Lets the load run `warmup` s, then counts for `seconds` s: events per second and broker CPU µs per event. */
async function measure(t: LoadTarget, seconds: number, warmup: number, count: () => number): Promise<{ perSec: number; cpuUsPer: number }> {
  await sleep(warmup * 1000);
  const n0 = count();
  const c0 = cpu(t.pid);
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const n = count() - n0;
  return { perSec: n / elapsed, cpuUsPer: (cpu(t.pid) - c0) / n };
}

/** QoS 0 fan-out: one publisher, `subs` subscribers of one topic, the publisher at most `window` ahead of the slowest. */
/** One fan-out subscriber: connected and subscribed to `topic`; `got` is called once per message it receives. */
type OpenSubscriber = (i: number, topic: string, got: () => void) => Promise<{ close(): void }>;

/** QoS 0 fan-out to MQTT subscribers. */
export function fanOut(t: LoadTarget, subs: number, payload: number, seconds: number, warmup: number, window = 32): Promise<FanOutResult> {
  const run = runId + 1;
  return fanOutTo(t, subs, payload, seconds, warmup, window, async (i, topic, got) => {
    const c = await BenchClient.connect(t.port, `fan-${run}-${i}`, t.version);
    await c.subscribe(topic, 0, t.version);
    c.onPacket = (p) => {
      if (p.type === 3) got();
    };
    return c;
  });
}

/**
 * The crossing (issue 19): the same MQTT publisher, iosignal WebSocket subscribers of the same topic on iosig's
 * `wsPort` (SUBSCRIBE_REQ answered before the run starts). Compare its broker CPU per delivery with fanOut's.
 */
export function crossing(t: LoadTarget, wsPort: number, subs: number, payload: number, seconds: number, warmup: number, window = 32): Promise<FanOutResult> {
  return fanOutTo(t, subs, payload, seconds, warmup, window, async (_i, topic, got) => {
    const { conn } = await connectReady({ transport: 'ws', port: wsPort });
    await new Promise<void>((resolve) => {
      conn.onmsg = (m) => {
        if (m[0] !== MSG.RESPONSE_MBP) return;
        conn.onmsg = (msg) => {
          if (msg[0] === MSG.SIGNAL) got();
        };
        resolve();
      };
      conn.send(encodeSubscribeReq(1, topic));
    });
    return conn;
  });
}

async function fanOutTo(t: LoadTarget, subs: number, payload: number, seconds: number, warmup: number, window: number, open: OpenSubscriber): Promise<FanOutResult> {
  const run = ++runId;
  const topic = `bench/fan/${run}`;
  const counts = new Array<number>(subs).fill(0);
  // How many subscribers have received exactly k messages: the slowest count moves in O(1) per receipt.
  const atLevel = new Map<number, number>([[0, subs]]);
  let slowest = 0;
  let received = 0;
  let sent = 0;
  let pump: () => void = () => {};
  const clients = await openMany(subs, 64, (i) =>
    open(i, topic, () => {
      const k = counts[i]!;
      counts[i] = k + 1;
      received++;
      atLevel.set(k, atLevel.get(k)! - 1);
      atLevel.set(k + 1, (atLevel.get(k + 1) ?? 0) + 1);
      if (k === slowest) {
        while (atLevel.get(slowest) === 0) atLevel.delete(slowest++);
        pump();
      }
    }),
  );
  const publisher = await BenchClient.connect(t.port, `fan-${run}-pub`, t.version);
  const bytes = encode({ cmd: 'publish', topic, payload: Buffer.alloc(payload, 0x61), qos: 0, retain: false, dup: false } as Packet, t.version);
  let running = true;
  pump = () => {
    if (!running) return;
    const burst: Buffer[] = [];
    while (sent - slowest < window) {
      burst.push(bytes);
      sent++;
    }
    if (burst.length > 0) publisher.write(burst.length === 1 ? burst[0]! : Buffer.concat(burst));
  };
  pump();
  const m = await measure(t, seconds, warmup, () => received);
  running = false;
  for (const c of [...clients, publisher]) c.close();
  await sleep(200);
  return { subs, payload, deliveriesPerSec: m.perSec, cpuUsPerDelivery: m.cpuUsPer };
}

/** QoS 1 pairs: each publisher sends the next message once its subscriber got the last one and the PUBACK came. */
/** `persistent`: the subscribers keep their sessions (clean session 0): with a store, every delivery is journaled. */
export async function qos1Pairs(t: LoadTarget, pairs: number, seconds: number, warmup: number, persistent = false): Promise<PairsResult> {
  const run = ++runId;
  let roundTrips = 0;
  let running = true;
  const all: BenchClient[] = [];
  const starters: Array<() => void> = [];
  for (let i = 0; i < pairs; i++) {
    const topic = `bench/pair/${run}/${i}`;
    const sub = await BenchClient.connect(t.port, `pair-${run}-${i}-s`, t.version, '127.0.0.1', !persistent);
    await sub.subscribe(topic, 1, t.version);
    const pub = await BenchClient.connect(t.port, `pair-${run}-${i}-p`, t.version);
    all.push(sub, pub);
    let id = 0;
    let gotMessage = false;
    let gotAck = false;
    const send = (): void => {
      if (!running) return;
      id = id === 65_535 ? 1 : id + 1;
      gotMessage = gotAck = false;
      pub.write(encode({ cmd: 'publish', topic, payload: Buffer.from('ping'), qos: 1, messageId: id, retain: false, dup: false } as Packet, t.version));
    };
    const maybeNext = (): void => {
      if (gotMessage && gotAck) {
        roundTrips++;
        send();
      }
    };
    sub.onPacket = (p) => {
      if (p.type !== 3) return;
      const pid = publishPacketId(p.body);
      sub.write(Buffer.from([0x40, 0x02, pid >> 8, pid & 0xff]));
      gotMessage = true;
      maybeNext();
    };
    pub.onPacket = (p) => {
      if (p.type !== 4) return;
      gotAck = true;
      maybeNext();
    };
    starters.push(send);
  }
  for (const start of starters) start();
  const m = await measure(t, seconds, warmup, () => roundTrips);
  running = false;
  for (const c of all) c.close();
  await sleep(200);
  return { pairs, roundTripsPerSec: m.perSec, cpuUsPerRoundTrip: m.cpuUsPer };
}

/** Idle connections: each connects and subscribes to its own topic; RSS growth and CPU per connection. */
export async function idle(t: LoadTarget, conns: number): Promise<IdleResult> {
  const run = ++runId;
  await sleep(300);
  const rss0 = t.pid > 0 ? procRssBytes(t.pid) : NaN;
  const c0 = cpu(t.pid);
  const clients = await openMany(conns, 100, async (i) => {
    const c = await BenchClient.connect(t.port, `idle-${run}-${i}`, t.version);
    await c.subscribe(`bench/idle/${run}/${i}`, 0, t.version);
    return c;
  });
  await sleep(1000);
  const rss1 = t.pid > 0 ? procRssBytes(t.pid) : NaN;
  const cpuUs = cpu(t.pid) - c0;
  for (const c of clients) c.close();
  await sleep(500);
  return { conns, bytesPerConn: (rss1 - rss0) / conns, cpuUsPerConn: cpuUs / conns };
}

// ---- the load's flags (shared with mqtt-brokers.ts) -------------------------------------------------------------

export interface LoadOptions {
  scenarios: string[];
  subs: number;
  payloads: number[];
  pairs: number;
  conns: number;
  duration: number;
  warmup: number;
  window: number;
  version: Version;
}

export const defaultLoad = (): LoadOptions => ({ scenarios: ['fanout', 'crossing', 'qos1', 'idle'], subs: 1000, payloads: [64, 1024], pairs: 100, conns: 10_000, duration: 5, warmup: 1, window: 32, version: 4 });

/** Applies one of the load's flags; false when `flag` is not one of them. */
export function loadFlag(o: LoadOptions, flag: string, value: () => string): boolean {
  if (flag === '--scenarios') o.scenarios = list(value());
  else if (flag === '--subs') o.subs = Number(value());
  else if (flag === '--payloads') o.payloads = list(value()).map(Number);
  else if (flag === '--pairs') o.pairs = Number(value());
  else if (flag === '--conns') o.conns = Number(value());
  else if (flag === '--duration') o.duration = Number(value());
  else if (flag === '--warmup') o.warmup = Number(value());
  else if (flag === '--window') o.window = Number(value());
  else if (flag === '--version') o.version = Number(value()) as Version;
  else if (flag === '--quick') Object.assign(o, { subs: 200, pairs: 20, conns: 1000, duration: 2, warmup: 0.5 });
  else return false;
  return true;
}

// ---- alone ----------------------------------------------------------------------------------------------------

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = defaultLoad();
  const target: LoadTarget = { port: 1883, pid: 0, version: 4 };
  eachFlag(process.argv.slice(2), (flag, value) => {
    if (flag === '--port') target.port = Number(value());
    else if (flag === '--pid') target.pid = Number(value());
    else if (!loadFlag(o, flag, value)) throw new Error(`unknown flag ${flag}`);
  });
  target.version = o.version;
  if (o.scenarios.includes('fanout')) for (const p of o.payloads) console.log('fanout', JSON.stringify(await fanOut(target, o.subs, p, o.duration, o.warmup, o.window)));
  if (o.scenarios.includes('qos1')) console.log('qos1', JSON.stringify(await qos1Pairs(target, o.pairs, o.duration, o.warmup)));
  if (o.scenarios.includes('qos1-persistent')) console.log('qos1-persistent', JSON.stringify(await qos1Pairs(target, o.pairs, o.duration, o.warmup, true)));
  if (o.scenarios.includes('idle')) console.log('idle', JSON.stringify(await idle(target, o.conns)));
  process.exit(0);
}
