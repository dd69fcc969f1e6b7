// Load-generator worker process (started by bench/run.ts over IPC).
// Holds raw protocol clients and reports counters and its own CPU time.
import { connectReady, pool, type Conn, type Transport, type WsClientKind } from './lib/conn.js';
import { D0_SIGNAL, signalMsg, subscribeMsg } from './lib/proto.js';

export type WorkerCmd =
  | { t: 'subs'; transport: Transport; port: number; wsClient: WsClientKind; n: number; tag: string; concurrency: number }
  | { t: 'pub'; transport: Transport; port: number; wsClient: WsClientKind; tag: string; payload: number; window: number; localMin: boolean }
  | { t: 'pairs'; transport: Transport; port: number; wsClient: WsClientKind; n: number; prefix: string; payload: number; concurrency: number }
  | { t: 'storm'; transport: Transport; port: number; wsClient: WsClientKind; n: number; concurrency: number }
  | { t: 'go' }
  | { t: 'min'; v: number }
  | { t: 'forgive' }
  | { t: 'stop' }
  | { t: 'snap'; id: number }
  | { t: 'exit' };

export type WorkerReply =
  | { t: 'ok'; id?: number; ms?: number; failed?: number; err?: string }
  | { t: 'err'; msg: string }
  | { t: 'min'; v: number }
  | { t: 'snap'; id: number; recv: number; sent: number; rtts: number; cpuUs: number; lat: number[]; closed: number };

function reply(m: WorkerReply): void {
  process.send?.(m);
}

const conns: Conn[] = [];
let closedUnexpectedly = 0;
let stopping = false;

// ---- subscriber state
let subCounts: Uint32Array = new Uint32Array(0);
let lastMin = -1;
let minTimer: NodeJS.Timeout | undefined;
let recvTotal = 0;
let minScheduled = false;

/** Reports the lowest per-subscriber count when it changed (flow control for the publisher). */
function checkMin(): void {
  minScheduled = false;
  let min = 0xffffffff;
  for (let i = 0; i < subCounts.length; i++) if (subCounts[i]! < min) min = subCounts[i]!;
  if (min !== lastMin) {
    lastMin = min;
    if (localMin) { minRaw = min; globalMin = minRaw + minOffset; topUp(); }
    reply({ t: 'min', v: min });
  }
}

// ---- publisher state
let pubConn: Conn | undefined;
let pubMsg: Buffer | undefined;
let pubWindow = 0;
let sent = 0;
let globalMin = 0;
let minRaw = 0;
/** Added to the subscribers' minimum after a stall (messages the server dropped). */
let minOffset = 0;
let publishing = false;
/** Publisher and all subscribers live in this process: flow control needs no relay. */
let localMin = false;

// ---- ping-pong state
let rtts = 0;
const LAT_CAP = 20000;
let lat: number[] = [];
let latSeen = 0;
let pairsGo: (() => void) | undefined;
let pingRunning = false;

function track(c: Conn): void {
  conns.push(c);
  c.onclose = (): void => { if (!stopping) closedUnexpectedly++; };
}

function recordLatency(ms: number): void {
  latSeen++;
  if (lat.length < LAT_CAP) lat.push(ms);
  else {
    const j = Math.floor(Math.random() * latSeen);
    if (j < LAT_CAP) lat[j] = ms;
  }
}

function topUp(): void {
  if (!publishing || pubConn === undefined || pubMsg === undefined) return;
  const room = pubWindow - (sent - globalMin);
  if (room <= 0) return;
  const batch: Buffer[] = new Array(room);
  for (let i = 0; i < room; i++) batch[i] = pubMsg;
  pubConn.sendMany(batch);
  sent += room;
}

async function handle(cmd: WorkerCmd): Promise<void> {
  switch (cmd.t) {
    case 'subs': {
      subCounts = new Uint32Array(cmd.n);
      const sub = subscribeMsg(cmd.tag);
      await pool(cmd.n, cmd.concurrency, async (i) => {
        const { conn } = await connectReady({ transport: cmd.transport, port: cmd.port, wsClient: cmd.wsClient, cid: true });
        track(conn);
        conn.onmsg = (m: Buffer): void => {
          if (m[0] === D0_SIGNAL) {
            subCounts[i]!++; recvTotal++;
            if (!minScheduled) { minScheduled = true; setImmediate(checkMin); }
          }
        };
        conn.send(sub);
      });
      // Safety net; the fast path is checkMin after each I/O turn with deliveries.
      minTimer = setInterval(checkMin, 20);
      reply({ t: 'ok' });
      return;
    }
    case 'pub': {
      const { conn } = await connectReady({ transport: cmd.transport, port: cmd.port, wsClient: cmd.wsClient, cid: true });
      track(conn);
      pubConn = conn;
      const payload = Buffer.alloc(cmd.payload, 0x61);
      pubMsg = signalMsg(cmd.tag, payload);
      pubWindow = cmd.window;
      localMin = cmd.localMin;
      reply({ t: 'ok' });
      return;
    }
    case 'pairs': {
      const payload = Buffer.alloc(cmd.payload, 0x62);
      const starters: (() => void)[] = [];
      await pool(cmd.n, cmd.concurrency, async (i) => {
        const ta = `${cmd.prefix}${i}a`;
        const tb = `${cmd.prefix}${i}b`;
        const opts = { transport: cmd.transport, port: cmd.port, wsClient: cmd.wsClient, cid: true };
        const [a, b] = await Promise.all([connectReady(opts), connectReady(opts)]);
        track(a.conn); track(b.conn);
        const toB = signalMsg(tb, payload);
        const toA = signalMsg(ta, payload);
        let t0 = 0;
        b.conn.onmsg = (m: Buffer): void => { if (m[0] === D0_SIGNAL) b.conn.send(toA); };
        a.conn.onmsg = (m: Buffer): void => {
          if (m[0] !== D0_SIGNAL) return;
          const now = performance.now();
          rtts++;
          recordLatency(now - t0);
          if (pingRunning) { t0 = now; a.conn.send(toB); }
        };
        a.conn.send(subscribeMsg(ta));
        b.conn.send(subscribeMsg(tb));
        starters.push(() => { t0 = performance.now(); a.conn.send(toB); });
      });
      pairsGo = (): void => { for (const s of starters) s(); };
      reply({ t: 'ok' });
      return;
    }
    case 'storm': {
      let failed = 0;
      let err: string | undefined;
      const t0 = performance.now();
      await pool(cmd.n, cmd.concurrency, async () => {
        try {
          const { conn } = await connectReady({ transport: cmd.transport, port: cmd.port, wsClient: cmd.wsClient, cid: true, timeoutMs: 30000 });
          track(conn);
        } catch (e) {
          failed++;
          err ??= (e as Error).message;
        }
      });
      const ms = performance.now() - t0;
      reply(err === undefined ? { t: 'ok', ms, failed } : { t: 'ok', ms, failed, err });
      return;
    }
    case 'go': {
      if (pubConn) { publishing = true; topUp(); }
      if (pairsGo) { pingRunning = true; pairsGo(); }
      return;
    }
    case 'min': {
      minRaw = cmd.v;
      globalMin = minRaw + minOffset;
      topUp();
      return;
    }
    case 'forgive': {
      minOffset = sent - minRaw;
      globalMin = minRaw + minOffset;
      topUp();
      return;
    }
    case 'stop': {
      publishing = false;
      pingRunning = false;
      reply({ t: 'ok' });
      return;
    }
    case 'snap': {
      const u = process.cpuUsage();
      reply({
        t: 'snap', id: cmd.id, recv: recvTotal, sent, rtts,
        cpuUs: u.user + u.system, lat, closed: closedUnexpectedly,
      });
      lat = [];
      latSeen = 0;
      return;
    }
    case 'exit': {
      stopping = true;
      publishing = false;
      pingRunning = false;
      if (minTimer) clearInterval(minTimer);
      for (const c of conns) c.close();
      setTimeout(() => process.exit(0), 50);
      return;
    }
  }
}

process.on('message', (cmd: WorkerCmd) => {
  handle(cmd).catch((e: unknown) => reply({ t: 'err', msg: (e as Error).message ?? String(e) }));
});
process.on('disconnect', () => process.exit(0));
// Never outlive the runner by long, whatever happens.
setTimeout(() => process.exit(3), 30 * 60 * 1000).unref();
