// Cross-node flood (issue 16 item 9), as an attacker would try it: one anonymous connection on node A publishes
// 1 KiB messages to a channel of node B as fast as A takes them, for `--seconds`, while an unrelated channel A → B
// carries about 150 numbered messages a second from another client (127.0.0.2). Redis keeps its default pub/sub output limit (32 MB). Reported per
// round: the flood sent and received, the unrelated channel's delivery, Redis cutting B, and the loss counters of
// both nodes (what A did not send, by reason; what B counted as never arrived).
//
// Node B runs at nice `--b-nice` (10): a node busier than A, which is what lets a flood outrun it; 0 runs it like A.
//
// Usage: npm run bench:cluster-flood [-- --rounds 3 --seconds 6 --b-nice 10 --root <checkout> [-- <node A's arguments>]]
// `--root` runs another checkout's bin/io-server.js (the figures before a change); what follows a second `--`
// goes to node A (e.g. `-- --cluster-bus-rate 0` for no budget).
import net from 'node:net';
import { setPriority } from 'node:os';
import { resolve } from 'node:path';
import { PAYLOAD, MSG } from '../src/protocol/codes.js';
import { encodeFrame } from '../src/protocol/congsocket.js';
import { encodeSignal, encodeTagMessage } from '../src/protocol/messages.js';
import { counter, serverRoot, startNode, startRedis, stopNode, type NodeProc } from './lib/cluster-procs.js';
import { killAll, sleep } from './lib/procs.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : def;
}

const rounds = Number(arg('--rounds', '3'));
const seconds = Number(arg('--seconds', '6'));
const bNice = Number(arg('--b-nice', '10'));
if (process.argv.includes('--root')) serverRoot.dir = resolve(arg('--root', '.'));
const split = process.argv.indexOf('--');
const nodeArgs = split >= 0 ? process.argv.slice(split + 1) : [];
const CALM_EVERY_MS = 6.6;

/** A CongSocket client that asked for a CID; `onSignal` gets each SIGNAL it receives. */
function connect(port: number, onSignal: ((msg: Buffer) => void) | null, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const sock = net.createConnection({ host: '127.0.0.1', port, localAddress });
  let pending: Buffer = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    if (!onSignal) return;
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      const type = pending[0];
      if (type === undefined || pending.length < 1 + type) break;
      let len = 0;
      for (let k = type; k >= 1; k--) len = len * 256 + pending[k]!;
      if (pending.length < 1 + type + len) break;
      const msg = pending.subarray(1 + type, 1 + type + len);
      if (msg[0] === MSG.SIGNAL) onSignal(msg);
      pending = pending.subarray(1 + type + len);
    }
  });
  return new Promise((done, fail) => {
    sock.once('error', fail);
    sock.once('connect', () => {
      sock.write(encodeFrame(Buffer.from([MSG.CID_REQ])));
      done(sock);
    });
  });
}

async function clusterOf(node: NodeProc): Promise<Record<string, unknown>> {
  const body = (await (await fetch(`http://127.0.0.1:${node.ws}/api/status?limit=1`)).json()) as { metrics: { cluster: Record<string, unknown> } };
  return body.metrics.cluster;
}

async function round(n: number): Promise<void> {
  const redis = await startRedis(undefined);
  const prefix = `flood${n}`;
  const b = await startNode('b', undefined, ['--cluster', redis.url, '--cluster-prefix', prefix, '--node-id', `${prefix}-b`]);
  setPriority(b.child.pid!, bNice);
  const a = await startNode('a', undefined, ['--cluster', redis.url, '--cluster-prefix', prefix, '--node-id', `${prefix}-a`, ...nodeArgs]);
  try {
    let floodGot = 0;
    const calmGot = new Set<string>();
    const sink = await connect(b.cong, () => floodGot++);
    sink.write(encodeFrame(encodeTagMessage(MSG.SUBSCRIBE, 'flood')));
    const calmSub = await connect(b.cong, (m) => calmGot.add(m.subarray(3 + m[1]!, m.length - 1).toString()));
    calmSub.write(encodeFrame(encodeTagMessage(MSG.SUBSCRIBE, 'calm')));
    const deadline = Date.now() + 10_000;
    while ((await counter(a, 'iosig_cluster_interests', 'scope="remote"')) < 2 && Date.now() < deadline) await sleep(50);
    const flooder = await connect(a.cong, null);
    const calm = await connect(a.cong, null, '127.0.0.2'); // another client than the flooder
    const frame = encodeFrame(encodeSignal('flood', PAYLOAD.BINARY, Buffer.alloc(1024, 0x46)));
    const chunk = Buffer.concat(Array.from({ length: 256 }, () => frame));
    let calmSent = 0;
    let floodSent = 0;
    const calmTimer = setInterval(() => calm.write(encodeFrame(encodeSignal('calm', PAYLOAD.TEXT, Buffer.from(`${++calmSent}\0`)))), CALM_EVERY_MS);
    const t0 = Date.now();
    while (Date.now() - t0 < seconds * 1000) {
      floodSent += 256;
      if (!flooder.write(chunk)) await new Promise((r) => flooder.once('drain', r));
    }
    clearInterval(calmTimer);
    // Let B catch up (and come back if Redis cut it), then one last calm message reveals any gap before it.
    await sleep(4000);
    calm.write(encodeFrame(encodeSignal('calm', PAYLOAD.TEXT, Buffer.from(`${++calmSent}\0`))));
    await sleep(1500);
    const [ca, cb] = await Promise.all([clusterOf(a), clusterOf(b)]);
    const cuts = await counter(b, 'iosig_cluster_resubscribes_total');
    console.log(
      JSON.stringify({
        round: n,
        floodSent,
        floodGot,
        calm: `${calmGot.size}/${calmSent}`,
        redisCutB: cuts - 1,
        aPublished: ca.published,
        aDropped: ca.droppedBy ?? ca.dropped,
        bReceived: cb.received,
        bGaps: cb.gaps ?? 'not counted',
        bDisconnects: cb.disconnects ?? 'not counted',
      }),
    );
    for (const s of [sink, calmSub, flooder, calm]) s.destroy();
  } finally {
    await stopNode(a);
    await stopNode(b);
    redis.stop();
  }
}

try {
  console.log(`# cluster flood: ${rounds} rounds of ${seconds} s, io-server from ${serverRoot.dir}, node B at nice ${bNice}, node A args: ${nodeArgs.join(' ') || '(none)'}`);
  for (let n = 1; n <= rounds; n++) await round(n);
} finally {
  killAll();
}
