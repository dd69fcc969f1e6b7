// Structure-aware fuzzing of the plain WebSocket endpoint (issue 16): JSON and raw, both directions, retained
// replay. The generators build what an attacker would: JSON nested from 0 to 20 000 levels (as text, so making it
// costs no stack), envelopes with every field right, wrong or missing, strings full of quotes, backslashes,
// brackets and control bytes, bytes that are not UTF-8, every payload type.
// - plain-translate (pure): every delivery becomes a frame within frameBound that a device can read back to the
//   same bytes or value; every device frame becomes SIGNALs with the right tags and payload, or is refused;
//   nothing deeper than the bound is ever parsed.
// - plain-endpoint: plain devices (stand-in sockets) and iosignal clients (in-memory links) on one server,
//   publishing, unicasting, retaining and connecting late; no internal error, every frame readable, "server":
//   true only on the server's own signals, nothing left behind once everyone closed.
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal, encodeTagMessage } from '../../src/protocol/messages.js';
import { parseSignal } from '../../src/protocol/payload.js';
import { MAX_JSON_DEPTH, jsonDepthWithin } from '../../src/protocol/json-depth.js';
import { pack, type MbpItem } from '../../src/protocol/mbp.js';
import { Outbound, type Publisher } from '../../src/delivery/outbound.js';
import { frameBound, frameForDevice } from '../../src/plain/to-device.js';
import { FrameSignals, readDeviceFrame, targetTags } from '../../src/plain/from-device.js';
import type { PlainFormat } from '../../src/plain/request.js';
import type { FrameSocket, PlainLink } from '../../src/plain/plain-link.js';
import type { MemoryEndpoint } from '../../src/transport/memory.js';
import { Server } from '../../src/server.js';
import { inside } from '../kit/inside.js';

// ---- generators --------------------------------------------------------------------------------------------

/** Characters that stress JSON: quotes, backslashes, brackets, control bytes, line separators, astral ones. */
const trickyChar = fc.constantFrom('"', '\\', '[', ']', '{', '}', ',', ':', '\u0000', '\u0001', '\n', '\t', '\u001f', '\u007f', '\u2028', 'é', '😀', 'a', ' ');
const trickyString = fc.oneof(fc.string({ unit: trickyChar, maxLength: 40 }), fc.string({ maxLength: 20 }));

/** A JSON text nested `depth` levels, opened by arrays, objects or both, with a leaf inside (built as text). */
const nestedJson = fc
  .record({
    depth: fc.oneof(fc.nat(8), fc.integer({ min: MAX_JSON_DEPTH - 3, max: MAX_JSON_DEPTH + 3 }), fc.constantFrom(1000, 6000, 20_000)),
    shape: fc.constantFrom('array', 'object', 'mixed'),
    leaf: fc.oneof(fc.constant('1'), trickyString.map((s) => JSON.stringify(s)), fc.constant('null')),
  })
  .map(({ depth, shape, leaf }) => {
    const opens: string[] = [];
    const closes: string[] = [];
    for (let i = 0; i < depth; i++) {
      const asArray = shape === 'array' || (shape === 'mixed' && i % 2 === 0);
      opens.push(asArray ? '[' : `{${JSON.stringify(`k${i % 3}`)}:`);
      closes.push(asArray ? ']' : '}');
    }
    return { text: opens.join('') + leaf + closes.reverse().join(''), depth };
  });

/** JSON of any depth as text, with its depth (ordinary values, deep ones, and text that is not JSON at all). */
const jsonText: fc.Arbitrary<{ text: string; depth: number }> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => ({ text: JSON.stringify(v), depth: depthOf(v) })),
  nestedJson,
  fc.constantFrom('[1,', '{"a"', 'nope', '', '"unterminated', '[]]]]', '{}}').map((text) => ({ text, depth: -1 })),
);

/** Levels of arrays and objects of a (small) value. */
function depthOf(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf));
  if (value !== null && typeof value === 'object') return 1 + Math.max(0, ...Object.values(value).map(depthOf));
  return 0;
}

const tag = fc.oneof(fc.constantFrom('a', 'lab', 'cfg$all', '#room', '@cmd', 'x@y', 'q"uote'), fc.string({ minLength: 1, maxLength: 20 }), fc.constant('t'.repeat(255)));
const publisher: fc.Arbitrary<Publisher> = fc.constantFrom<Publisher>(null, '', '?abc', 'DEV-1', 'we"ird\\cid');

/** Payload bytes of a type: text of every kind, bytes that are not UTF-8, JSON of any depth, MBA packs. */
const payloadOf: fc.Arbitrary<{ type: number; bytes: Buffer }> = fc.oneof(
  fc.constant({ type: PAYLOAD.EMPTY, bytes: Buffer.alloc(0) }),
  trickyString.map((s) => ({ type: PAYLOAD.TEXT, bytes: Buffer.from(`${s}\0`) })),
  fc.record({ n: fc.nat(3000), b: fc.integer({ min: 0, max: 0x1f }) }).map(({ n, b }) => ({ type: PAYLOAD.TEXT, bytes: Buffer.concat([Buffer.alloc(n, b), Buffer.from([0])]) })),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ type: PAYLOAD.TEXT, bytes: Buffer.from(b) })),
  fc.uint8Array({ maxLength: 200 }).map((b) => ({ type: PAYLOAD.BINARY, bytes: Buffer.from(b) })),
  jsonText.map((j) => ({ type: PAYLOAD.OBJECT, bytes: Buffer.from(j.text) })),
  jsonText.map((j) => ({ type: PAYLOAD.MJSON, bytes: Buffer.from(j.text) })),
  fc.tuple(jsonText, trickyString).map(([j, s]) => ({
    type: PAYLOAD.MBA,
    bytes: pack([{ name: 0, type: 'O', bytes: Buffer.from(j.text) } satisfies MbpItem, { name: 1, type: 'S', bytes: Buffer.from(s) } satisfies MbpItem]),
  })),
  fc.uint8Array({ maxLength: 60 }).map((b) => ({ type: PAYLOAD.MBA, bytes: Buffer.from(b) })),
  fc.tuple(fc.integer({ min: 6, max: 255 }), fc.uint8Array({ maxLength: 60 })).map(([type, b]) => ({ type, bytes: Buffer.from(b) })),
);

interface Delivery {
  tag: string;
  payload: { type: number; bytes: Buffer };
  e2e: boolean;
  publisher: Publisher;
}
const delivery: fc.Arbitrary<Delivery> = fc.record({ tag, payload: payloadOf, e2e: fc.boolean(), publisher });

/** A frame a device sends: JSON envelopes right, wrong and hostile, raw text, binary. */
/** A frame from a device, with the depth of its JSON (-1: not JSON). */
interface DeviceFrameCase {
  data: Buffer;
  binary: boolean;
  depth: number;
}
const deviceFrame: fc.Arbitrary<DeviceFrameCase> = fc.oneof(
  fc
    .record({
      to: fc.option(fc.oneof(tag, fc.constantFrom('', 'x'.repeat(300)), fc.integer().map(String)), { nil: undefined }),
      toAsNumber: fc.boolean(),
      payload: fc.oneof(jsonText, trickyString.map((s) => ({ text: JSON.stringify(s), depth: 0 })), fc.constant({ text: '', depth: 0 })),
      type: fc.option(fc.constantFrom('BINARY', 'TEXT', 7), { nil: undefined }),
    })
    .map(({ to, toAsNumber, payload, type }) => {
      const fields: string[] = [];
      if (to !== undefined) fields.push(`"to":${toAsNumber ? '5' : JSON.stringify(to)}`);
      if (type !== undefined) fields.push(`"type":${JSON.stringify(type)}`);
      if (payload.text !== '') fields.push(`"payload":${payload.text}`);
      return { data: Buffer.from(`{${fields.join(',')}}`), binary: false, depth: payload.depth + 1 };
    }),
  jsonText.map((j) => ({ data: Buffer.from(j.text), binary: false, depth: j.depth })),
  trickyString.map((s) => ({ data: Buffer.from(s), binary: false, depth: -1 })),
  fc.uint8Array({ maxLength: 300 }).map((b) => ({ data: Buffer.from(b), binary: true, depth: -1 })),
);

// ---- plain-translate ---------------------------------------------------------------------------------------

const withoutNul = (b: Buffer): Buffer => (b.length > 0 && b[b.length - 1] === 0 ? b.subarray(0, b.length - 1) : b);

function fail(what: string): never {
  throw new Error(what);
}

/** A delivery as both kinds of device get it: bounded, readable, and back to the same bytes or value. */
function checkOut({ tag: t, payload, e2e, publisher: from }: Delivery, maxJson: number): void {
  const msg = encodeSignal(t, payload.type, payload.bytes, e2e ? MSG.SIGNAL_E2E : MSG.SIGNAL);
  const out = new Outbound(msg, from);
  const type = e2e ? PAYLOAD.BINARY : payload.type;
  for (const format of ['raw', 'json'] as PlainFormat[]) {
    const frame = frameForDevice(msg, format, from, maxJson) ?? fail('no frame for a well-formed signal');
    if (frame.data.length > frameBound(out, format)) fail(`${format}: ${frame.data.length} bytes over the bound ${frameBound(out, format)}`);
    if (!frame.binary && !isUtf8(frame.data)) fail(`${format}: a text frame that is not UTF-8`);
    const data = Buffer.from(frame.data);
    if (format === 'raw') {
      const expected = type === PAYLOAD.TEXT ? withoutNul(payload.bytes) : payload.bytes;
      if (type !== PAYLOAD.MBA && !data.equals(expected)) fail('raw: the frame is not the payload');
      continue;
    }
    // A device parses the envelope with any JSON parser: never deeper than the bound plus the envelope's levels.
    if (!jsonDepthWithin(data, MAX_JSON_DEPTH + 2)) fail('json: an envelope nested past the bound');
    const env = JSON.parse(data.toString()) as Record<string, unknown>;
    if (env.tag !== t || env.from !== (from ?? '')) fail('json: tag or from lost');
    if ((env.server === true) !== (from === null) || (from !== null && 'server' in env)) fail('json: "server" on a client message, or missing on the server\'s');
    if (env.encoding === 'base64') {
      const expected = type === PAYLOAD.TEXT ? withoutNul(payload.bytes) : payload.bytes;
      if (!Buffer.from(String(env.payload), 'base64').equals(expected)) fail('json: base64 is not the payload');
    } else if (type === PAYLOAD.TEXT) {
      if (!Buffer.from(String(env.payload)).equals(withoutNul(payload.bytes))) fail('json: TEXT changed');
    } else if (type === PAYLOAD.OBJECT || type === PAYLOAD.MJSON) {
      if (payload.bytes.length > maxJson) fail('json: a payload over --max-plain-json was parsed');
      if (JSON.stringify(env.payload) !== JSON.stringify(JSON.parse(payload.bytes.toString()))) fail('json: the JSON value changed');
    } else if (type === PAYLOAD.EMPTY) {
      if (env.payload !== null) fail('json: EMPTY is not null');
    } else if (type === PAYLOAD.MBA) {
      if (!Array.isArray(env.payload)) fail('json: MBA is not an array');
    } else {
      fail(`json: type ${type} without base64`);
    }
  }
}

/** A device frame: refused, or SIGNALs with the targets' tags and one payload; nothing past the bound parsed. */
function checkIn(frame: DeviceFrameCase, format: PlainFormat, channels: string[], maxJson: number): void {
  const input = readDeviceFrame(frame.data, frame.binary, format, targetTags(channels), maxJson);
  if (!input.ok) return;
  if (format === 'json' && !frame.binary && frame.data.length > maxJson) fail('an envelope over --max-plain-json was parsed');
  if (format === 'json' && !frame.binary && frame.depth > MAX_JSON_DEPTH + 1) fail(`a ${frame.depth}-level envelope was parsed`);
  if (input.payloadType === PAYLOAD.OBJECT && !jsonDepthWithin(input.payload)) fail('an OBJECT past the bound was published');
  if (input.nul !== (input.payloadType === PAYLOAD.TEXT)) fail('a NUL after a payload that is not TEXT, or none after TEXT');
  const signals = new FrameSignals(input);
  for (let i = 0; i < signals.count; i++) {
    const msg = Buffer.from(signals.message(i));
    const parsed = parseSignal(msg) ?? fail('a SIGNAL that does not parse');
    if (!Buffer.from(parsed.tag).equals(input.targets[i]!)) fail('a SIGNAL with another tag');
    const payload = Buffer.concat([input.payload, Buffer.alloc(input.nul ? 1 : 0)]);
    if (parsed.payloadType !== input.payloadType || !parsed.payload.equals(payload)) fail('a SIGNAL with another payload');
    if (msg.length !== signals.size(i)) fail('size() disagrees with the message');
  }
}

/** --max-plain-json: the default, and small enough that the generators' payloads pass it often. */
const maxJson = fc.constantFrom(1024 * 1024, 64);
const targets = fc.constantFrom<string[]>(['a'], ['a', 'b$', '#h'], ['x'.repeat(255)]);
const translate = fc.property(delivery, deviceFrame, fc.constantFrom<PlainFormat>('raw', 'json'), targets, maxJson, (d, f, format, channels, limit) => {
  checkOut(d, limit);
  checkIn(f, format, channels, limit);
});

// ---- plain-endpoint: a server with plain devices and iosignal clients --------------------------------------

/** A socket standing in for uWS: checks every frame as it is sent, and reports its end as uWS would. */
class CheckedSocket implements FrameSocket {
  link: PlainLink | null = null;
  private ended = false;

  constructor(
    private readonly format: PlainFormat,
    private readonly problems: string[],
  ) {}

  send(data: string | Uint8Array, isBinary: boolean): number {
    const bytes = Buffer.from(data);
    if (!isBinary && !isUtf8(bytes)) this.problems.push('a text frame that is not UTF-8');
    if (this.format === 'json' && !isBinary) this.checkEnvelope(bytes);
    return 1;
  }

  private checkEnvelope(bytes: Buffer): void {
    let env: Record<string, unknown>;
    try {
      env = JSON.parse(bytes.toString()) as Record<string, unknown>;
    } catch {
      this.problems.push(`a JSON device got a frame that is not JSON: ${bytes.subarray(0, 60).toString()}`);
      return;
    }
    if (env.type === 'READY' || env.type === 'ERROR') return;
    const payload = env.encoding === 'base64' ? Buffer.from(String(env.payload), 'base64').toString() : String(env.payload);
    const fromServer = payload.startsWith(SERVER_MARK);
    if ((env.server === true) !== fromServer) this.problems.push(`"server": ${String(env.server)} on ${payload.slice(0, 40)}`);
  }

  getBufferedAmount(): number {
    return 0;
  }

  ping(): void {}

  end(): void {
    this.gone();
  }

  close(): void {
    this.gone();
  }

  /** The peer or the server ended it: reported once, later, as uWS reports a close. */
  gone(): void {
    if (this.ended) return;
    this.ended = true;
    setImmediate(() => {
      const link = this.link;
      if (!link || link.closed) return;
      link.closed = true;
      link.conn?.linkClosed();
    });
  }
}

/** What only the server's own signals carry (clients' payloads never start with it). */
const SERVER_MARK = 'SRV:';
const CHANNELS = ['a', 'b', 'r$', 'cfg$all'];
const channelList = fc.subarray(CHANNELS, { minLength: 1 });

type EndpointStep =
  | { kind: 'device'; format: PlainFormat; channels: string[] }
  | { kind: 'frame'; to: number; frame: { data: Buffer; binary: boolean } }
  | { kind: 'publish'; tag: string; payload: { type: number; bytes: Buffer } }
  | { kind: 'unicast'; to: number; payload: { type: number; bytes: Buffer } }
  | { kind: 'server'; tag: string }
  | { kind: 'close'; to: number }
  | { kind: 'tick' };

const clientPayload = payloadOf.filter((p) => !p.bytes.subarray(0, 8).toString('latin1').includes(SERVER_MARK));
const endpointStep: fc.Arbitrary<EndpointStep> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('device' as const), format: fc.constantFrom<PlainFormat>('raw', 'json'), channels: channelList }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('frame' as const), to: fc.nat(5), frame: deviceFrame.filter((f) => !f.data.toString('latin1').includes(SERVER_MARK)) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('publish' as const), tag: fc.constantFrom(...CHANNELS), payload: clientPayload }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unicast' as const), to: fc.nat(5), payload: clientPayload }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('server' as const), tag: fc.constantFrom(...CHANNELS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), to: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'tick' as const }) },
);

let server: Server | null = null;
const serverLog: string[] = [];
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function runEndpointSession(steps: EndpointStep[]): Promise<void> {
  const s = server!;
  const logFrom = serverLog.length;
  const errorsBefore = s.metrics().internalErrors;
  const problems: string[] = [];
  const devices: { link: PlainLink; socket: CheckedSocket }[] = [];
  const client: MemoryEndpoint = s.connectInMemory({ transport: 'cong' });
  client.on('message', () => {});
  let serverSends = 0;
  for (const step of steps) {
    switch (step.kind) {
      case 'device': {
        const socket = new CheckedSocket(step.format, problems);
        const link = s.connectPlain(socket, { channels: step.channels, format: step.format });
        socket.link = link;
        devices.push({ link, socket });
        break;
      }
      case 'frame':
        devices[step.to % Math.max(1, devices.length)]?.link.fromDevice(step.frame.data, step.frame.binary);
        break;
      case 'publish':
        client.send(encodeSignal(step.tag, step.payload.type, step.payload.bytes));
        break;
      case 'unicast': {
        const target = devices[step.to % Math.max(1, devices.length)]?.link.conn?.cid;
        if (target) client.send(encodeSignal(`${target}@cmd`, step.payload.type, step.payload.bytes));
        break;
      }
      case 'server':
        s.sendSignal(step.tag, PAYLOAD.TEXT, Buffer.from(`${SERVER_MARK}${serverSends++}\0`));
        break;
      case 'close':
        devices[step.to % Math.max(1, devices.length)]?.socket.gone();
        break;
      case 'tick':
        await turn();
        break;
    }
  }
  client.send(encodeTagMessage(MSG.UNSUBSCRIBE, 'a'));
  await turn();
  client.close();
  for (const device of devices) device.socket.gone();
  for (let i = 0; i < 20 && inside(s).registry.sessions.size > 0; i++) await turn();
  const internal = serverLog.slice(logFrom).find((line) => /internal error|RangeError|TypeError/.test(line));
  if (internal) throw new Error(`internal error: ${internal}`);
  if (s.metrics().internalErrors !== errorsBefore) throw new Error('iosig_internal_errors_total went up');
  if (problems.length > 0) throw new Error(problems.join('; '));
  if (inside(s).registry.sessions.size > 0) throw new Error(`${inside(s).registry.sessions.size} connection(s) left after every device closed`);
  for (const [key, channel] of inside(s).router.channels) if (channel.size > 0) throw new Error(`channel ${key} keeps subscribers`);
}

const endpoint = fc.asyncProperty(fc.array(endpointStep, { minLength: 1, maxLength: 20 }), runEndpointSession);

async function startEndpointServer(): Promise<void> {
  server = new Server({
    congPort: 0,
    host: '127.0.0.1',
    http: false,
    // Small bounds, so that frames past a device's budget and over --max-message are part of the run.
    maxMessageSize: 64 * 1024,
    log: (line) => {
      if (serverLog.length > 10_000) serverLog.splice(0, 5_000);
      serverLog.push(line);
    },
  });
  await server.ready;
}

export const PLAIN_PROPERTIES = {
  translate: () => translate as never,
  endpoint: () => endpoint as never,
  async setUp(): Promise<void> {
    await startEndpointServer();
  },
  async tearDown(): Promise<void> {
    await server?.close();
    server = null;
  },
};
