// Seeded property tests (fast-check) of everything that reads client bytes: the CongSocket decoder, the fixed
// message layouts, MBP, the connection state machine driven in memory through a fake link, and the plain
// WebSocket endpoint (plain-properties.ts). The same properties run briefly in `npm test` (protocol.test.ts) and
// at length in `npm run fuzz` (run.ts): 2 000 000 cases by default, half of them the plain endpoint's.
import fc from 'fast-check';
import { CongDecoder, encodeFrame } from '../../src/protocol/congsocket.js';
import {
  encodeSignal,
  encodeSubscribeReq,
  encodeTagMessage,
  iamNick,
  readTag,
  retag,
  signalTag,
  subscribeReq,
  subscribeTags,
  unsubscribeRequest,
} from '../../src/protocol/messages.js';
import { MB, MBA, pack, readMeta, unpack, type MbpItem } from '../../src/protocol/mbp.js';
import { decodeCall, decodeResponseMbp, encodeCall, encodeResponseMbp } from '../../src/protocol/rpc.js';
import { decodeSignalPayload, parseSignal } from '../../src/protocol/payload.js';
import { BohoSession, parseAuthReq } from '../../src/crypto/boho.js';
import { MSG } from '../../src/protocol/codes.js';
import type { Connection } from '../../src/connection/connection.js';
import type { MemoryEndpoint } from '../../src/transport/memory.js';
import { Server } from '../../src/server.js';
import { PLAIN_PROPERTIES } from '../plain/fuzz-properties.js';
import { inside } from '../kit/inside.js';

export const FUZZ_SEED = 0x10519;

export interface FuzzProperty {
  name: string;
  /** Share of the long run's cases. */
  weight: number;
  /** Cases in `npm test`. */
  shortRuns: number;
  property(): fc.IProperty<never> | fc.IAsyncProperty<never>;
  /** Makes the shared state the property needs (a server), and tears it down. */
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
}

// ---- CongSocket decoder ----------------------------------------------------------------------------------

/** Cuts `bytes` at the given points (chunk boundaries as TCP might deliver them). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(last, p));
    last = p;
  }
  chunks.push(bytes.subarray(last));
  return chunks;
}

const congRoundTrip = fc.property(
  fc.array(fc.uint8Array({ minLength: 1, maxLength: 6000 }), { maxLength: 6 }),
  fc.array(fc.nat(), { maxLength: 8 }),
  (payloads, cuts) => {
    const wire = Buffer.concat(payloads.map((p) => encodeFrame(p)));
    const got: Buffer[] = [];
    const decoder = new CongDecoder({ frame: (f) => got.push(Buffer.from(f)), error: () => { throw new Error('error on a valid stream'); } }, 1 << 20);
    for (const chunk of split(wire, cuts)) decoder.push(chunk);
    if (got.length !== payloads.length) throw new Error(`${got.length} frames for ${payloads.length}`);
    payloads.forEach((p, i) => {
      if (!Buffer.from(p).equals(got[i]!)) throw new Error(`frame ${i} differs`);
    });
    if (decoder.buffered !== 0) throw new Error('bytes left over');
  },
);

const congGarbage = fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), fc.integer({ min: 1, max: 70_000 }), (chunks, max) => {
  let stopped = false;
  const decoder = new CongDecoder(
    {
      frame: (f) => {
        if (stopped) throw new Error('frame after a too-large error');
        if (f.length === 0 || f.length > max) throw new Error(`bad frame length ${f.length}`);
      },
      error: (kind) => {
        if (kind === 'too-large') stopped = true;
      },
    },
    max,
  );
  for (const chunk of chunks) decoder.push(Buffer.from(chunk));
  if (decoder.buffered > max + 5) throw new Error(`decoder holds ${decoder.buffered} bytes`);
});

// ---- fixed layouts and MBP -------------------------------------------------------------------------------

const anyMessage = fc.oneof(
  fc.uint8Array({ maxLength: 80 }),
  fc.tuple(fc.constantFrom(...Object.values(MSG)), fc.uint8Array({ maxLength: 80 })).map(([t, rest]) => Buffer.concat([Buffer.from([t]), rest])),
);

const layoutsNeverThrow = fc.property(anyMessage, fc.string({ maxLength: 12 }), (raw, tag) => {
  const msg = Buffer.from(raw);
  signalTag(msg);
  subscribeTags(msg);
  unsubscribeRequest(msg);
  subscribeReq(msg);
  iamNick(msg);
  parseAuthReq(msg);
  decodeCall(msg);
  decodeResponseMbp(msg);
  parseSignal(msg);
  readTag(msg, 1, msg.length);
  try {
    retag(msg, tag);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
  }
  readMeta(msg);
  unpack(msg);
});

const tagText = fc.string({ minLength: 1, maxLength: 40 }).filter((t) => !t.includes(',') && !t.includes('\0') && Buffer.byteLength(t) <= 200);

const layoutsRoundTrip = fc.property(tagText, fc.constantFrom(0, 1, 2, 3, 4), fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 0xffff }), (tag, type, payload, mid) => {
  const signal = encodeSignal(tag, type, payload);
  if (signalTag(signal) !== tag) throw new Error('signal tag lost');
  const req = subscribeReq(encodeSubscribeReq(mid, tag));
  if (!req || req.mid !== mid || req.tags !== tag) throw new Error('SUBSCRIBE_REQ lost');
  if (subscribeTags(encodeTagMessage(MSG.SUBSCRIBE, tag)) !== tag) throw new Error('SUBSCRIBE lost');
});

const jsonValue = fc.jsonValue({ maxDepth: 3 });
const mbpItem: fc.Arbitrary<MbpItem> = fc.oneof(
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 255 })).map(([n, v]) => MB(`n${n}`, '8', v)),
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.integer({ min: -0x80000000, max: 0x7fffffff })).map(([n, v]) => MB(`n${n}`, 'I32', v)),
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 30 })).map(([n, v]) => MB(`s${n}`, v)),
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.uint8Array({ maxLength: 30 })).map(([n, v]) => MB(`b${n}`, v)),
  fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), jsonValue).map(([n, v]) => MB(`j${n}`, v)),
);

const mbpRoundTrip = fc.property(fc.uniqueArray(mbpItem, { minLength: 1, maxLength: 6, selector: (item) => item.name }), fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { maxLength: 4 }), (items, args) => {
  const packed = pack(...items, MBA(...args));
  const record = unpack(packed);
  // Left out by design: JSON nulls, and fields without a describable name ('' or '#…'); none described = no meta.
  const described = items.filter((item) => item.name !== '' && !String(item.name).startsWith('#'));
  const kept = described.filter((item) => !(item.type === 'O' && Buffer.from(item.bytes).toString() === 'null'));
  if (!record && (described.length > 0 || args.length > 0)) throw new Error('a pack we made does not unpack');
  if (!record) return;
  for (const item of kept) if (!(String(item.name) in record)) throw new Error(`field ${String(item.name)} lost`);
  // Any corruption of it is refused or read, never thrown.
  for (let i = 0; i < Math.min(packed.length, 16); i++) {
    const bad = Buffer.from(packed);
    bad[bad.length - 1 - i] ^= 0x5a;
    unpack(bad);
    readMeta(bad);
  }
});

const rpcRoundTrip = fc.property(fc.integer({ min: 0, max: 0xffff }), fc.string({ minLength: 1, maxLength: 10 }), fc.string({ minLength: 1, maxLength: 10 }), fc.integer({ min: 0, max: 255 }), (mid, target, topic, status) => {
  const call = decodeCall(encodeCall(mid, target, topic, 'x', 1));
  if (!call || call.mid !== mid || call.target !== target || call.topic !== topic) throw new Error('CALL lost');
  const res = decodeResponseMbp(encodeResponseMbp(status, mid, 'body'));
  if (!res || res.mid !== mid || res.status !== status) throw new Error('RESPONSE_MBP lost');
  decodeSignalPayload(3, Buffer.from('not mbp'));
});

// ---- the connection state machine, in memory -------------------------------------------------------------

const DEVICES = 'fz1.key-fz1.FZ1.3,fz2.key-fz2.FZ2.255,fz3.key-fz3.?bad.3';
let smServer: Server | null = null;
const smLog: string[] = [];

type Step = { to: number; kind: 'bytes'; msg: Uint8Array } | { to: number; kind: 'login'; id: string; key: string; legacy: boolean } | { to: number; kind: 'tick' };

const tagPool = fc.constantFrom('a', 'b', '#h', '$r', '@t', '@$s', 'FZ1@x', 'FZ2@$y', '?zz@x', 'a,b', '', '#', '@', 'c\u00e9');
const wellFormed: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.tuple(tagPool, fc.constantFrom(0, 1, 2, 3, 4), fc.uint8Array({ maxLength: 20 })).map(([t, ty, p]) => encodeSignal(t || 'x', ty, p)),
  tagPool.map((t) => encodeTagMessage(MSG.SUBSCRIBE, t || 'x')),
  tagPool.map((t) => encodeTagMessage(MSG.UNSUBSCRIBE, t || 'x')),
  fc.constant(Buffer.from([MSG.UNSUBSCRIBE, 0])),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), tagPool).map(([mid, t]) => encodeSubscribeReq(mid, t || 'x')),
  fc.constant(Buffer.from([MSG.CID_REQ])),
  fc.string({ maxLength: 10 }).map((nick) => Buffer.concat([Buffer.from([MSG.IAM]), Buffer.from(nick)])),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.concat([Buffer.from([MSG.ECHO]), b])),
  fc.constant(Buffer.from([MSG.PING])),
  fc.constant(Buffer.from([0xb0, 0x00])),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom('reply', 'sudo', 'nope'), fc.constantFrom('echo', 'list', 'x')).map(([mid, target, topic]) => encodeCall(mid, target, topic, 1)),
  fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.concat([Buffer.from([MSG.ENC_488]), b])),
  fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => Buffer.concat([Buffer.from([MSG.ENC_E2E]), b])),
  fc.uint8Array({ minLength: 0, maxLength: 50 }).map((b) => Buffer.concat([Buffer.from([MSG.AUTH_REQ]), b])),
  fc.uint8Array({ minLength: 0, maxLength: 50 }).map((b) => Buffer.concat([Buffer.from([0xb2]), b])),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ to: fc.nat(2), kind: fc.constant('bytes' as const), msg: wellFormed }) },
  { weight: 2, arbitrary: fc.record({ to: fc.nat(2), kind: fc.constant('bytes' as const), msg: anyMessage }) },
  {
    weight: 1,
    arbitrary: fc.record({
      to: fc.nat(2),
      kind: fc.constant('login' as const),
      id: fc.constantFrom('fz1', 'fz2', 'fz3', 'nobody'),
      key: fc.constantFrom('key-fz1', 'key-fz2', 'key-fz3', 'wrong'),
      legacy: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ to: fc.nat(2), kind: fc.constant('tick' as const) }) },
);

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits until `find` returns something, a few event-loop turns at most (in-memory links are asynchronous). */
async function awaitMessage(received: Buffer[], find: (msg: Buffer) => boolean): Promise<Buffer | undefined> {
  for (let i = 0; i < 20; i++) {
    const found = received.find(find);
    if (found) return found;
    await turn();
  }
  return undefined;
}

async function runSession(steps: Step[]): Promise<void> {
  const server = smServer!;
  const before = smLog.length;
  const known = new Set(inside(server).registry.sessions);
  const endpoints: MemoryEndpoint[] = [];
  const received: Buffer[][] = [];
  for (let i = 0; i < 3; i++) {
    const ep = server.connectInMemory({ transport: i === 1 ? 'ws' : 'cong', peerIp: `10.9.0.${i + 1}` });
    const inbox: Buffer[] = [];
    ep.on('message', (msg: Buffer) => {
      if (inbox.length < 64) inbox.push(msg);
    });
    endpoints.push(ep);
    received.push(inbox);
  }
  const conns = [...inside(server).registry.sessions].filter((conn) => !known.has(conn)) as Connection[];
  for (const s of steps) {
    const ep = endpoints[s.to]!;
    const inbox = received[s.to]!;
    if (s.kind === 'tick') await turn();
    else if (s.kind === 'bytes') ep.send(s.msg);
    else {
      const boho = new BohoSession();
      if (s.legacy) {
        ep.send(Buffer.from([0xb0, 0x00]));
        const nonce = await awaitMessage(inbox, (m) => m[0] === 0xb1 && m.length === 13);
        if (!nonce) continue;
        const proof = boho.authReq(s.id, s.key, Buffer.concat([Buffer.from([MSG.SERVER_TIME_NONCE]), nonce.subarray(1)]))!;
        proof[0] = 0xb2;
        ep.send(proof);
      } else {
        const hello = await awaitMessage(inbox, (m) => m[0] === MSG.SERVER_TIME_NONCE);
        if (hello) ep.send(boho.authReq(s.id, s.key, hello)!);
      }
    }
  }
  await turn();
  for (const ep of endpoints) ep.close();
  for (let i = 0; i < 10 && conns.some((conn) => !conn.closed); i++) await turn();
  const internal = smLog.slice(before).find((line) => /internal error|RangeError|TypeError/.test(line));
  if (internal) throw new Error(`internal error: ${internal}`);
  for (const conn of conns) {
    if (!conn.closed) throw new Error(`connection #${conn.ssid} not closed after its link went`);
    if (conn.cid && inside(server).router.cids.get(conn.cid) === conn) throw new Error(`cid ${conn.cid} still indexed after close`);
    if (inside(server).registry.sessions.has(conn)) throw new Error(`connection #${conn.ssid} still listed after close`);
  }
  if (inside(server).router.channels.size > 0) {
    for (const [key, channel] of inside(server).router.channels) {
      if (channel.size > 0) throw new Error(`channel ${key} keeps ${channel.size} subscriber(s) after every connection closed`);
    }
  }
}

const stateMachine = fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), runSession);

/** The long run's default: the first seven properties keep their million, the plain endpoint gets another. */
export const FUZZ_CASES = 2_000_000;

export const PROPERTIES: FuzzProperty[] = [
  { name: 'cong-roundtrip', weight: 0.05, shortRuns: 300, property: () => congRoundTrip as never },
  { name: 'cong-garbage', weight: 0.125, shortRuns: 1000, property: () => congGarbage as never },
  { name: 'layouts-garbage', weight: 0.15, shortRuns: 2000, property: () => layoutsNeverThrow as never },
  { name: 'layouts-roundtrip', weight: 0.05, shortRuns: 500, property: () => layoutsRoundTrip as never },
  { name: 'mbp-roundtrip', weight: 0.025, shortRuns: 300, property: () => mbpRoundTrip as never },
  { name: 'rpc-roundtrip', weight: 0.025, shortRuns: 300, property: () => rpcRoundTrip as never },
  { name: 'plain-translate', weight: 0.45, shortRuns: 1000, property: PLAIN_PROPERTIES.translate },
  {
    name: 'plain-endpoint',
    weight: 0.05,
    shortRuns: 200,
    property: PLAIN_PROPERTIES.endpoint,
    setUp: PLAIN_PROPERTIES.setUp,
    tearDown: PLAIN_PROPERTIES.tearDown,
  },
  {
    name: 'connection-state-machine',
    weight: 0.075,
    shortRuns: 300,
    property: () => stateMachine as never,
    async setUp() {
      smServer = new Server({
        congPort: 0,
        host: '127.0.0.1',
        http: false,
        auth: { param: DEVICES },
        authFailDelay: 0,
        loginLimits: { addressBurst: 1e9, deviceBurst: 1e9, addressRate: 1e9, deviceRate: 1e9 },
        log: (line) => {
          if (smLog.length > 10_000) smLog.splice(0, 5_000);
          smLog.push(line);
        },
      });
      await smServer.ready;
    },
    async tearDown() {
      await smServer?.close();
      smServer = null;
    },
  },
];
