// Load of the cluster benchmark, generated in the bench process itself: fan-out with a flow-control window and
// unicast ping-pong at a fixed rate. Every cell counts exactly: publishing stops, the cell drains, and only then
// are CPU and counters read, so CPU covers every delivery of the publishes counted and nothing else.
import { Redis } from 'ioredis';
import { connectReady, pool, type ReadyConn, type Transport } from './conn.js';
import { busCounters, cpuOf, portOf, type BusCounters, type NodeProc } from './cluster-procs.js';
import { sleep, procCpuUs } from './procs.js';
import { D0_SIGNAL, signalMsg, subscribeMsg } from './proto.js';

export interface FanOutPlan {
  transport: Transport;
  /** A channel name of its own per cell, so no interest of an earlier cell lingers. */
  tag: string;
  subscribers: { node: NodeProc; n: number }[];
  publisher: NodeProc;
  payload: number;
  warmupS: number;
  seconds: number;
  /** Publishes the publisher may be ahead of the average subscriber. */
  window: number;
  /** Instead of the window: this many publishes a second, sent as they fall due on a 1 ms timer (open loop). */
  rate?: number;
  /** Nodes whose CPU is read (all pids of each). */
  measured: NodeProc[];
  redisPid: number | null;
  /** Cluster nodes whose bus counters are read. */
  counted: NodeProc[];
}

export interface FanOutResult {
  publishes: number;
  deliveries: number;
  lost: number;
  seconds: number;
  /** CPU µs per measured node, per pid. */
  cpuUs: number[][];
  redisUs: number;
  clientUs: number;
  counters: BusCounters[];
}

const diff = (a: BusCounters, b: BusCounters): BusCounters => ({
  dataSent: b.dataSent - a.dataSent,
  redisIn: b.redisIn - a.redisIn,
  redisOut: b.redisOut - a.redisOut,
  received: b.received - a.received,
});

const clientCpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

export async function fanOut(p: FanOutPlan): Promise<FanOutResult> {
  const total = p.subscribers.reduce((n, s) => n + s.n, 0);
  let received = 0;
  let onDelivery: () => void = () => undefined;
  const targets = p.subscribers.flatMap((s) => Array.from({ length: s.n }, () => portOf(s.node, p.transport)));
  const subs = await pool(targets.length, 64, async (i) => {
    const c = await connectReady({ transport: p.transport, port: targets[i]!, cid: true });
    c.conn.onmsg = (m) => {
      if (m[0] !== D0_SIGNAL) return;
      received++;
      onDelivery();
    };
    c.conn.send(subscribeMsg(p.tag));
    return c;
  });
  const pub = await connectReady({ transport: p.transport, port: portOf(p.publisher, p.transport), cid: true });
  const msg = signalMsg(p.tag, Buffer.alloc(p.payload, 1));
  try {
    // Interest has travelled (local subscriptions, Redis subscriptions, announcements) once a probe reaches all.
    for (let i = 0; ; i++) {
      if (i === 200) throw new Error(`fan-out ${p.tag}: a probe never reached all ${total} subscribers`);
      received = 0;
      pub.conn.send(msg);
      const until = Date.now() + 100;
      while (received < total && Date.now() < until) await sleep(5);
      if (received === total) break;
    }
    await run(p.warmupS);
    const c0 = await Promise.all(p.counted.map(busCounters));
    const cpu0 = p.measured.map((n) => cpuOf(n.pids()));
    const r0 = p.redisPid ? procCpuUs(p.redisPid) : 0;
    const cl0 = clientCpuUs();
    const t0 = performance.now();
    const { sent, lost } = await run(p.seconds);
    const t1 = performance.now();
    const cl1 = clientCpuUs();
    const r1 = p.redisPid ? procCpuUs(p.redisPid) : 0;
    const cpu1 = p.measured.map((n) => cpuOf(n.pids()));
    const c1 = await Promise.all(p.counted.map(busCounters));
    return {
      publishes: sent,
      deliveries: sent * total - lost,
      lost,
      seconds: (t1 - t0) / 1000,
      cpuUs: cpu1.map((pids, i) => pids.map((us, j) => us - (cpu0[i]![j] ?? NaN))),
      redisUs: r1 - r0,
      clientUs: cl1 - cl0,
      counters: c1.map((c, i) => diff(c0[i]!, c)),
    };
  } finally {
    for (const c of [...subs, pub]) c.conn.close();
    await sleep(300); // the servers tear the subscriptions down before the next cell
  }

  /** Publishes for `seconds` (within the window, or at the fixed rate), then waits for every delivery (lost = what never came). */
  async function run(seconds: number): Promise<{ sent: number; lost: number }> {
    received = 0;
    let sent = 0;
    let stopped = false;
    if (p.rate) {
      const rate = p.rate;
      const start = performance.now();
      const timer = setInterval(() => {
        const due = Math.floor(((performance.now() - start) * rate) / 1000) - sent;
        if (due <= 0) return;
        pub.conn.sendMany(Array.from({ length: due }, () => msg));
        sent += due;
      }, 1);
      await sleep(seconds * 1000);
      clearInterval(timer);
      const deadline = Date.now() + 10_000;
      while (received < sent * total && Date.now() < deadline) await sleep(2);
      return { sent, lost: sent * total - received };
    }
    let scheduled = false;
    const ahead = p.window * total;
    const pump = (): void => {
      scheduled = false;
      if (stopped) return;
      const n = Math.min(p.window, Math.floor((ahead - (sent * total - received)) / total));
      if (n <= 0) return;
      pub.conn.sendMany(Array.from({ length: n }, () => msg));
      sent += n;
    };
    onDelivery = () => {
      if (!scheduled && !stopped && sent * total - received <= ahead / 2) {
        scheduled = true;
        setImmediate(pump);
      }
    };
    pump();
    await sleep(seconds * 1000);
    stopped = true;
    const deadline = Date.now() + 10_000;
    while (received < sent * total && Date.now() < deadline) await sleep(2);
    onDelivery = () => undefined;
    return { sent, lost: sent * total - received };
  }
}

export interface PingPongPlan {
  transport: Transport;
  from: NodeProc;
  to: NodeProc;
  rate: number;
  warmupS: number;
  seconds: number;
  /** Processes whose CPU is measured over the timed part (the nodes). */
  cpuOf?: NodeProc[];
}

export interface PingPongResult {
  /** Round-trip times in µs, in the order sent. */
  rtts: number[];
  sent: number;
  lost: number;
  /** Server CPU µs over the timed part, summed over `cpuOf`'s processes (absent when not asked). */
  cpuUs?: number;
}

/** X (on `from`) unicasts `cid@ping` to Y (on `to`) at a fixed rate; Y answers `cid@pong`; X times the round trip. */
export async function pingPong(p: PingPongPlan): Promise<PingPongResult> {
  const x = await connectReady({ transport: p.transport, port: portOf(p.from, p.transport), cid: true });
  const y = await connectReady({ transport: p.transport, port: portOf(p.to, p.transport), cid: true });
  const sentAt = new Map<number, number>();
  let rtts: number[] = [];
  try {
    y.conn.onmsg = (m) => {
      if (m[0] === D0_SIGNAL) y.conn.send(signalMsg(`${x.cid}@pong`, m.subarray(3 + m[1]!)));
    };
    x.conn.onmsg = (m) => {
      if (m[0] !== D0_SIGNAL) return;
      const id = m.readUInt32BE(3 + m[1]!);
      const at = sentAt.get(id);
      if (at === undefined) return;
      sentAt.delete(id);
      rtts.push((performance.now() - at) * 1000);
    };
    await waitUnicastPath(x, y);
    const warm = await paced(x, y.cid, p.rate, p.warmupS, sentAt, 0);
    await sleep(200);
    rtts = [];
    sentAt.clear();
    const pids = [...new Set((p.cpuOf ?? []).flatMap((n) => n.pids()))];
    const cpuNow = (): number => cpuOf(pids).reduce((a, b) => a + b, 0);
    const cpu0 = cpuNow();
    const sent = await paced(x, y.cid, p.rate, p.seconds, sentAt, warm);
    const deadline = Date.now() + 2000;
    while (sentAt.size > 0 && Date.now() < deadline) await sleep(5);
    const cpuUs = pids.length ? cpuNow() - cpu0 : undefined;
    return { rtts, sent, lost: sentAt.size, ...(cpuUs === undefined ? {} : { cpuUs }) };
  } finally {
    x.conn.close();
    y.conn.close();
  }
}

/** A unicast to a CID on another node works once that node's Redis subscription for it is confirmed. */
async function waitUnicastPath(x: ReadyConn, y: ReadyConn): Promise<void> {
  const probe = Buffer.alloc(4, 0xff);
  for (let i = 0; i < 100; i++) {
    let got = false;
    const before = y.conn.onmsg;
    y.conn.onmsg = (m) => {
      if (m[0] === D0_SIGNAL) got = true;
    };
    x.conn.send(signalMsg(`${y.cid}@ping`, probe));
    await sleep(50);
    y.conn.onmsg = before;
    if (got) return;
  }
  throw new Error('unicast path never opened');
}

/** Sends `rate` pings a second for `seconds` (ids from `firstId`); resolves with the count. */
function paced(x: ReadyConn, to: string, rate: number, seconds: number, sentAt: Map<number, number>, firstId: number): Promise<number> {
  const tag = `${to}@ping`;
  return pacedBy(
    (id) => {
      const body = Buffer.allocUnsafe(4);
      body.writeUInt32BE(id);
      sentAt.set(id, performance.now());
      x.conn.send(signalMsg(tag, body));
    },
    rate,
    seconds,
    firstId,
  );
}

/**
 * The floor of two Redis pub/sub hops: this process publishes to `in`, an echo process (bench/redis-echo.ts)
 * republishes to `out`, this process times the round trip; ioredis alone, the same rate and payload size.
 */
export async function redisRoundTrip(url: string, inChannel: string, outChannel: string, rate: number, warmupS: number, seconds: number): Promise<PingPongResult> {
  const pub = new Redis(url);
  const sub = new Redis(url);
  const sentAt = new Map<number, number>();
  let rtts: number[] = [];
  try {
    sub.on('messageBuffer', (_channel: Buffer, m: Buffer) => {
      const id = m.readUInt32BE(0);
      const at = sentAt.get(id);
      if (at === undefined) return;
      sentAt.delete(id);
      rtts.push((performance.now() - at) * 1000);
    });
    await sub.subscribe(outChannel);
    const send = (id: number): void => {
      const body = Buffer.alloc(40); // about the size of a unicast envelope
      body.writeUInt32BE(id);
      sentAt.set(id, performance.now());
      void pub.publish(inChannel, body);
    };
    const warm = await pacedBy(send, rate, warmupS, 0);
    await sleep(200);
    rtts = [];
    sentAt.clear();
    const sent = await pacedBy(send, rate, seconds, warm);
    const deadline = Date.now() + 2000;
    while (sentAt.size > 0 && Date.now() < deadline) await sleep(5);
    return { rtts, sent, lost: sentAt.size };
  } finally {
    pub.disconnect();
    sub.disconnect();
  }
}

/** Calls `send(id)` `rate` times a second for `seconds`, each as soon as it is due; resolves with the count. */
function pacedBy(send: (id: number) => void, rate: number, seconds: number, firstId: number): Promise<number> {
  const count = Math.round(rate * seconds);
  const start = performance.now();
  let sent = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const due = Math.min(count, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) send(firstId + sent++);
      if (sent >= count) {
        clearInterval(timer);
        resolve(sent);
      }
    };
    const timer = setInterval(tick, 1);
    tick();
  });
}
