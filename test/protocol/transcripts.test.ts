// Replays the deterministic reference transcripts (test/vectors/transcripts_inprocess.json, made with
// the iosignal 5.1.4 server) against a real iosig server over real sockets, and compares what every
// connection receives with what the reference sent, message by message.
//
// Per-run randomness is masked, nothing else: SERVER_TIME_NONCE bytes 1..12, anonymous cids (the
// reference cid → our cid mapping is learnt from each CID_RES and substituted everywhere, in sent
// and expected bytes, tags and IAM_RES JSON alike) and `ssid` values in IAM_RES JSON. Places where
// iosig deliberately differs from the reference (docs/protocol.md §10) are listed in DEVIATIONS. The
// current time in `reply` service answers (date, unixtime) is masked too.
//
// Logged-in connections really log in: the AUTH_REQ is built with a client BohoSession from the
// SERVER_TIME_NONCE our server sent (the reference's AUTH_REQ used the right key exactly when its
// hmac matches the recorded nonce, otherwise a wrong key is used), AUTH_RES is verified, and
// encrypted traffic is compared as plaintext: recorded ENC_488/ENC_E2E sent by the client are
// re-encrypted from their recorded plaintext with our session, and encrypted messages from the
// server are decrypted and compared with the recorded plaintext (`decoded.plaintext_hex`, `inner_hex`).
//
// Collection is exact rather than time-based: before each client action every open connection does
// an ECHO round trip (Replay.syncConn), so everything the server wrote before it is in hand.
// Only a connection in the middle of a hand-written partial frame cannot do that; it waits for the
// expected number of events (at most 500 ms) instead. One thing the server writes later on purpose
// gets a fixed wait: a service's RESPONSE_MBP (services answer asynchronously, CALL_WAIT_MS). AUTH_FAIL, which
// comes after authFailDelay, needs none: messages after an AUTH_REQ are held until the login is decided, so the
// login's connection is collected first and its round trip ends after the AUTH_FAIL (Replay.settle).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrameHeader } from '../../src/protocol/congsocket.js';
import { encodeResponseMbp } from '../../src/protocol/rpc.js';
import { BohoSession, decryptE2E, idFromId8, keyFromString } from '../../src/crypto/boho.js';
import { sha256 } from '../../src/crypto/otp.js';
import { createBuiltinService } from '../../src/services/builtin.js';
import { createServer, type ServerOptionsInput } from '../../src/index.js';
import { loadVector } from '../kit/vectors.js';
import { connectRaw, type RawClient, type RxEvent, type Transport } from '../kit/raw-client.js';
import { TimeoutError, pollUntil, sleep } from '../kit/wait.js';
import type { IosigServer } from '../kit/server.js';

interface TEvent {
  seq?: number;
  conn?: string;
  dir?: 'S>C' | 'C>S';
  msg_hex?: string;
  frame_header_hex?: string;
  ws_frame?: 'binary' | 'text';
  ws_control?: 'ping' | 'pong';
  raw_wire_hex?: string;
  text?: string;
  event?: string;
  note?: string;
  decoded?: {
    type?: string;
    json?: { ip?: string };
    id8?: string;
    clientNonce?: string;
    hmac32?: string;
    plaintext_hex?: string;
    encLen?: number;
    inner_hex?: string;
    decrypted_header_hex?: string;
  };
}

interface Scenario {
  id: string;
  title: string;
  config: string;
  events: TEvent[];
}

/** One expected (or received) item on a connection. */
type Item =
  /** `enc` set: the server must send this message encrypted (ENC_488 b8 / ENC_E2E b7) and `hex` is its
   *  plaintext; 'b2' is an AUTH_RES, checked with the client session instead of byte for byte. */
  | { kind: 'msg'; hex: string; enc?: 'b8' | 'b7' | 'b2' }
  | { kind: 'ping' }
  | { kind: 'pong' };

interface Deviation {
  scenario: string;
  seq: number;
  q: string;
  why: string;
  /**
   * What iosig sends instead of the reference event (one or more acceptable item lists). For a C>S
   * event: what iosig sends on that connection in answer to it where the reference sent nothing.
   */
  instead: Item[][];
  /** iosig then closes this connection, where the reference kept it open. */
  thenClosed?: boolean;
}

const AUTH_FAIL: Item = { kind: 'msg', hex: 'b3' };
/** Plaintext CID_RES / IAM_RES of an anonymous cid that the reference never had: `?Q19a` is a stand-in
 *  reference cid, so our anonymous cid is learnt from the CID_RES and substituted in the IAM_RES. */
const anonCidRes = (standIn: string): Item => ({ kind: 'msg', hex: 'c2' + Buffer.from(standIn).toString('hex') });
const anonIamRes = (standIn: string, ip: string): Item => ({
  kind: 'msg',
  hex:
    'da' +
    Buffer.from(
      JSON.stringify({ ssid: 0, cid: standIn, did: '', uid: '', level: 3, nick: '', ip, tag: [] }),
    ).toString('hex'),
});

/** Documented, deliberate differences from the reference (docs/protocol.md §10). */
const DEVIATIONS: Deviation[] = [
  {
    scenario: 'malformed_lengths',
    seq: 10,
    q: 'Q1',
    why: 'a SIGNAL of exactly tagLen + 2 bytes (no payloadType) is dropped instead of relayed',
    instead: [[]],
  },
  {
    scenario: 'iam_echo_ping',
    seq: 27,
    q: 'Q32',
    why: 'a PING message over WebSocket may be answered with a PONG message [ce] instead of a pong frame (uWS.js has no pong() call)',
    instead: [[{ kind: 'pong' }], [{ kind: 'msg', hex: 'ce' }]],
  },
  {
    scenario: 'call_reply',
    seq: 16,
    q: 'Q12',
    why: 'a CALL to an unknown service is answered with (255, "UNKNOWN_SERVICE") instead of silence',
    instead: [[{ kind: 'msg', hex: encodeResponseMbp(255, 7, 'UNKNOWN_SERVICE').toString('hex') }]],
  },
  {
    scenario: 'auth_success_encrypted',
    seq: 26,
    q: 'Q9',
    why: 'the ECHO reply to a logged-in, non-TLS session goes through the encryption rule (ENC_488)',
    instead: [[{ kind: 'msg', hex: 'cc6869', enc: 'b8' }]],
  },
  {
    scenario: 'auth_on_server_without_auth',
    seq: 2,
    q: 'Q18',
    why: 'an AUTH_REQ to a server without a key store gets AUTH_FAIL [b3] after the delay instead of being ignored',
    instead: [[AUTH_FAIL]],
  },
  {
    scenario: 'auth_levels',
    seq: 15,
    q: 'Q19',
    why: 'the bad-level login (id4, level 7) changed nothing: after AUTH_FAIL the connection is anonymous and unencrypted (reference: cid4, encrypted)',
    instead: [[anonCidRes('?Q19a')]],
  },
  {
    scenario: 'auth_levels',
    seq: 17,
    q: 'Q19',
    why: 'IAM_RES of the still anonymous connection, plaintext (reference: cid4/id4, encrypted)',
    instead: [[anonIamRes('?Q19a', '127.0.0.1')]],
  },
  {
    scenario: 'duplicate_login',
    seq: 14,
    q: 'Q19',
    why: 'the rejected ws newcomer is not authorised, so its later anonymous CID_RES is plaintext (reference: encrypted, it had stayed "authorised")',
    instead: [[{ kind: 'msg', hex: 'c23f6e386a74' }]],
  },
  {
    scenario: 'duplicate_login_kick_old',
    seq: 12,
    q: 'Q21',
    why: 'replace policy: the old connection gets AUTH_CLEAR "duplicate login." and is then closed (reference: left open)',
    instead: [[{ kind: 'msg', hex: 'c4' + Buffer.from('duplicate login.').toString('hex') }]],
    thenClosed: true,
  },
  {
    scenario: 'duplicate_login_kick_old',
    seq: 13,
    q: 'Q21',
    why: 'replace policy keeps the new connection: it is logged in (QUOTA_LEVEL + AUTH_RES) instead of closed',
    instead: [[{ kind: 'msg', hex: 'c301' }, { kind: 'msg', hex: 'b2', enc: 'b2' }]],
  },
];

/** Parts of a transcript that this harness does not replay, with the reason (not server deviations). */
const NOT_REPLAYED: { scenario: string; conn?: string; seqs?: number[]; why: string }[] = [
  {
    scenario: 'server_signal',
    seqs: [20, 21, 22, 23],
    why: 'remote.ping() for every remote is a reference-internal call with no iosig API; keepalive pings are tested in routing.test.ts',
  },
];

/** Server-side calls found in transcripts, by their `event` text. */
const SERVER_CALLS: { match: string; run: (s: IosigServer) => void }[] = [
  {
    match: 'manager.serverSignal({event:"notice",data:{msg:"maintenance"}})',
    run: (s) => s.signal('notice', { msg: 'maintenance' }),
  },
];

const SKIPPED: Record<string, string> = {};

const REPLAYED = [
  'anon_connect_cong',
  'anon_connect_ws',
  'pubsub_channel',
  'unicast',
  'cid_publish',
  'home_channel',
  'retained',
  'unsubscribe',
  'iam_echo_ping',
  'subscribe_req',
  'cong_framing',
  'close_reason',
  'disconnect_state_signal',
  'malformed_lengths',
  'server_signal',
  'call_reply',
  'auth_success_encrypted',
  'auth_fail',
  'auth_levels',
  'auth_on_server_without_auth',
  'duplicate_login',
  'duplicate_login_kick_old',
  'relogin_same_connection',
  'e2e_relay',
  'quota_oversize',
  'quota_oversize_disconnect',
  'members_only',
];

/** Delay before AUTH_FAIL on the test servers (ms); the next round trip on that connection waits for it. */
const AUTH_FAIL_DELAY = 100;
/** Wait after a CALL before the next round trip (ms). */
const CALL_WAIT_MS = 50;

/** Server options for each scenario `config` of the reference run. */
function serverOptions(config: string, authParam: string): ServerOptionsInput & { services?: ReturnType<typeof createBuiltinService>[] } {
  const base = {
    auth: { param: authParam },
    services: [createBuiltinService('reply', {})],
    authFailDelay: AUTH_FAIL_DELAY,
  };
  switch (config) {
    case 'default':
      return base;
    case 'noauth':
      return { ...base, auth: null };
    case 'kick_old': // BohoAuth.keepOldConnection = false
      return { ...base, duplicateLogin: 'replace' };
    case 'quota':
      return { ...base, useQuota: { signalSize: true } };
    case 'quota_disconnect':
      return { ...base, useQuota: { signalSize: true, disconnect: true } };
    case 'members_only':
      return { ...base, membersOnly: true };
    default:
      throw new Error(`unknown scenario config ${config}`);
  }
}

const transcripts = loadVector<{ scenarios: Scenario[]; auth_param: string }>('transcripts_inprocess.json');
/** id → key of the transcripts' key provider (`auth_param`: id.key.cid.level,...). */
const KEYS = new Map(transcripts.auth_param.split(',').map((e) => e.split('.') as [string, string]));
const XFF_IP = '203.0.113.7';

function replaceAll(buf: Buffer, from: Buffer, to: Buffer): Buffer {
  if (from.length === 0 || from.equals(to)) return buf;
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const i = buf.indexOf(from, pos);
    if (i < 0) break;
    parts.push(buf.subarray(pos, i), to);
    pos = i + from.length;
  }
  if (parts.length === 0) return buf;
  parts.push(buf.subarray(pos));
  return Buffer.concat(parts);
}

/** Per-run randomness masked: nonce bytes 1..12, `"ssid":n` in IAM_RES. */
function mask(hex: string): string {
  const buf = Buffer.from(hex, 'hex');
  if (buf[0] === 0xb0 && buf.length === 13) return 'b0' + '..'.repeat(12);
  if (buf[0] === 0xda) {
    const json = buf.subarray(1).toString('utf8').replace(/^\{"ssid":\d+,/, '{"ssid":#,');
    return 'da ' + json;
  }
  if (buf[0] === 0xdd && buf.length > 4) {
    // RESPONSE_MBP of `reply` date / unixtime: the body is the current time.
    const body = buf.subarray(4).toString('latin1');
    const masked = body
      .replace(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT\[/, '<date>[')
      .replace(/^\d{10}\[/, '<unixtime>[');
    if (masked !== body) return buf.subarray(0, 4).toString('hex') + ' ' + masked;
  }
  return hex;
}

const show = (it: Item): string =>
  it.kind === 'msg' ? (it.enc ? `<${it.enc}>(${mask(it.hex)})` : mask(it.hex)) : `<ws ${it.kind} frame>`;

class Replay {
  readonly clients = new Map<string, RawClient>();
  /** Expected items per connection since the last settle, with their transcript seq numbers. */
  readonly pending = new Map<string, { seq: number; items: Item[][] }[]>();
  /** Connections the transcript says the server closes, and the seq of that event. */
  readonly expectClose = new Map<string, number>();
  readonly closedByClient = new Set<string>();
  readonly done = new Set<string>();
  /** CongSocket bytes written raw that do not yet form whole frames (server decoder state mirror). */
  readonly rawTail = new Map<string, Buffer>();
  readonly cidMap = new Map<string, string>();
  readonly log: string[] = [];
  /** Client side Boho session of each connection that logged in (or tried to). */
  readonly sessions = new Map<string, BohoSession>();
  /** Last SERVER_TIME_NONCE our server sent on each connection, and the one the reference sent. */
  readonly ourNonce = new Map<string, Buffer>();
  readonly refNonce = new Map<string, Buffer>();
  /** AUTH_RES checks already made (verifyAuthRes changes the session, so each message is checked once). */
  readonly authResChecked = new Map<string, boolean>();
  /** Plaintext of every message each connection received, in order. */
  readonly received = new Map<string, Buffer[]>();
  private syncN = 0;

  constructor(
    readonly sc: Scenario,
    readonly server: IosigServer,
    readonly kinds: Map<string, Transport>,
    readonly xff: Set<string>,
    readonly via: Via = 'sockets',
  ) {}

  /** Connections opened through the server's in-memory link rather than a socket. */
  readonly inMemory = new Set<string>();

  subst(bytes: Buffer): Buffer {
    let out = bytes;
    for (const [ref, ours] of this.cidMap) out = replaceAll(out, Buffer.from(ref), Buffer.from(ours));
    return out;
  }

  async open(conn: string): Promise<RawClient> {
    const kind = this.kinds.get(conn)!;
    const port = kind === 'ws' ? this.server.wsPort! : this.server.congPort!;
    const opts = this.xff.has(conn) ? { headers: { 'X-Forwarded-For': XFF_IP } } : {};
    const memory = this.via === 'in-memory' || (this.via === 'mixed' && this.clients.size % 2 === 0);
    if (memory) this.inMemory.add(conn);
    const c = await connectRaw(kind, memory ? { memory: this.server } : port, opts);
    this.clients.set(conn, c);
    this.pending.set(conn, []);
    this.rawTail.set(conn, Buffer.alloc(0));
    return c;
  }

  expect(conn: string, seq: number, items: Item[][]): void {
    this.pending.get(conn)!.push({ seq, items });
  }

  /**
   * Mirrors the server's CongSocket decoder on bytes written raw, so `rawTail` is empty exactly at a
   * frame boundary. Returns true when the bytes hold a bad type byte (the server drops its buffer).
   */
  trackRaw(conn: string, bytes: Buffer): boolean {
    let buf = Buffer.concat([this.rawTail.get(conn)!, bytes]);
    let dropped = false;
    for (;;) {
      if (buf.length === 0) break;
      const type = buf[0]!;
      if (type < 1 || type > 4) {
        buf = Buffer.alloc(0); // the server drops its whole buffer (Q5)
        dropped = true;
        break;
      }
      if (buf.length < type + 1) break;
      let len = 0;
      for (let i = type; i >= 1; i--) len = len * 256 + buf[i]!;
      if (buf.length < type + 1 + len) break;
      buf = buf.subarray(type + 1 + len);
    }
    this.rawTail.set(conn, Buffer.from(buf));
    return dropped;
  }

  /** Every acceptable full item sequence for a window (cartesian product over alternatives). */
  static candidates(window: { items: Item[][] }[]): Item[][] {
    let out: Item[][] = [[]];
    for (const w of window) {
      const next: Item[][] = [];
      for (const prefix of out) for (const alt of w.items) next.push([...prefix, ...alt]);
      out = next;
    }
    return out;
  }

  /** Checks an AUTH_RES with the connection's client session (once per message). */
  checkAuthRes(conn: string, msg: Buffer): boolean {
    const key = `${conn}:${msg.toString('hex')}`;
    let ok = this.authResChecked.get(key);
    if (ok === undefined) {
      ok = msg.length === 33 && msg[0] === 0xb2 && (this.sessions.get(conn)?.verifyAuthRes(msg) ?? false);
      this.authResChecked.set(key, ok);
    }
    return ok;
  }

  /** Plaintext of an ENC_488 / ENC_E2E received on `conn`, null when it does not open. */
  openEnc(conn: string, msg: Buffer): Buffer | null {
    const session = this.sessions.get(conn);
    if (!session?.authorized) return null;
    if (msg[0] === 0xb8) return session.decrypt488(msg);
    if (msg[0] === 0xb7) return session.openE2E(msg);
    return null;
  }

  plain(conn: string, msg: Buffer): Buffer {
    return (msg[0] === 0xb8 || msg[0] === 0xb7 ? this.openEnc(conn, msg) : null) ?? msg;
  }

  showActual(conn: string, it: Item): string {
    if (it.kind !== 'msg') return show(it);
    const msg = Buffer.from(it.hex, 'hex');
    const pt = msg[0] === 0xb8 || msg[0] === 0xb7 ? this.openEnc(conn, msg) : null;
    return pt ? `<${it.hex.slice(0, 2)}>(${mask(pt.toString('hex'))})` : mask(it.hex);
  }

  /** Compares received items with one candidate, learning cids from CID_RES. Returns the new cids or null. */
  match(conn: string, actual: Item[], expected: Item[]): Map<string, string> | null {
    if (actual.length !== expected.length) return null;
    const learnt = new Map<string, string>();
    for (let i = 0; i < actual.length; i++) {
      const a = actual[i]!;
      const e = expected[i]!;
      if (a.kind !== e.kind) return null;
      if (a.kind !== 'msg' || e.kind !== 'msg') continue;
      let eb = this.subst(Buffer.from(e.hex, 'hex'));
      for (const [ref, ours] of learnt) eb = replaceAll(eb, Buffer.from(ref), Buffer.from(ours));
      let ab: Buffer = Buffer.from(a.hex, 'hex');
      if (e.enc === 'b2') {
        if (!this.checkAuthRes(conn, ab)) return null;
        continue;
      }
      if (e.enc) {
        if (ab[0] !== parseInt(e.enc, 16)) return null;
        const pt = this.openEnc(conn, ab);
        if (!pt) return null;
        ab = pt;
      }
      if (eb[0] === 0xc2 && ab[0] === 0xc2) {
        const ref = eb.subarray(1).toString('utf8');
        const ours = ab.subarray(1).toString('utf8');
        if (/^\?[A-Za-z0-9_-]{4}$/.test(ref) && !this.cidMap.has(ref) && /^\?[A-Za-z0-9_-]{4}$/.test(ours)) {
          learnt.set(ref, ours);
          continue;
        }
      }
      if (mask(eb.toString('hex')) !== mask(ab.toString('hex'))) return null;
    }
    return learnt;
  }

  compare(conn: string, actual: Item[], window: { seq: number; items: Item[][] }[]): void {
    const cands = Replay.candidates(window);
    for (const cand of cands) {
      const learnt = this.match(conn, actual, cand);
      if (learnt) {
        for (const [ref, ours] of learnt) this.cidMap.set(ref, ours);
        const got = this.received.get(conn) ?? [];
        for (const it of actual) if (it.kind === 'msg') got.push(this.plain(conn, Buffer.from(it.hex, 'hex')));
        this.received.set(conn, got);
        return;
      }
    }
    const seqs = window.map((w) => w.seq).join(',') || '-';
    assert.deepEqual(
      actual.map((it) => this.showActual(conn, it)),
      (cands[0] ?? []).map((it) =>
        it.kind === 'msg'
          ? show({ ...it, hex: it.enc === 'b2' ? 'b2' : this.subst(Buffer.from(it.hex, 'hex')).toString('hex') })
          : show(it),
      ),
      `${this.sc.id}: conn ${conn} (${this.kinds.get(conn)}) received something else than transcript seq ${seqs}`,
    );
    assert.fail(`${this.sc.id}: conn ${conn}: transcript seq ${seqs} not matched (same display, different bytes)`);
  }

  toItems(conn: string, evs: RxEvent[]): Item[] {
    return evs.map((ev) => {
      if (ev.kind !== 'msg') return { kind: ev.kind };
      if (ev.header) {
        assert.equal(
          ev.header.toString('hex'),
          encodeFrameHeader(ev.data.length).toString('hex'),
          `${this.sc.id}: conn ${conn}: CongSocket header must be the smallest type (§1.2)`,
        );
      }
      if (ev.data[0] === 0xb0 && ev.data.length === 13) this.ourNonce.set(conn, Buffer.from(ev.data));
      return { kind: 'msg', hex: ev.data.toString('hex') };
    });
  }

  /**
   * RawClient.syncEvents, except that the ECHO may come back encrypted (Q9) on a logged-in
   * connection, and an AUTH_RES is verified as soon as it arrives so that reply can be opened.
   */
  async syncConn(conn: string, c: RawClient, timeoutMs = 3000): Promise<RxEvent[]> {
    const n = ++this.syncN;
    const marker = Buffer.from([0xcc, 0x7e, 0x52, 0x50, 0x4c, (n >>> 8) & 0xff, n & 0xff, 0x7e]);
    c.send(marker);
    const end = Date.now() + timeoutMs;
    const before: RxEvent[] = [];
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) throw new TimeoutError('the sync ECHO round trip', timeoutMs);
      const ev = await c.nextEvent(left);
      if (ev.kind === 'msg') {
        if (ev.data.equals(marker)) return before;
        if (ev.data[0] === 0xb2) this.checkAuthRes(conn, ev.data);
        if (ev.data[0] === 0xb8 && this.openEnc(conn, ev.data)?.equals(marker)) return before;
      }
      before.push(ev);
    }
  }

  /** The AUTH_REQ to send for a recorded one: same id, and the right key exactly when the reference used it. */
  authReq(conn: string, ev: TEvent): Buffer {
    const d = ev.decoded!;
    const id = idFromId8(Buffer.from(d.id8!, 'hex'));
    const key = KEYS.get(id);
    const refNonce = this.refNonce.get(conn);
    assert.ok(refNonce, `${this.sc.id} seq ${ev.seq}: AUTH_REQ before a recorded SERVER_TIME_NONCE`);
    const rightKey =
      key !== undefined &&
      sha256(keyFromString(key), refNonce.subarray(1, 13), Buffer.from(d.clientNonce!, 'hex')).toString('hex') === d.hmac32;
    const ours = this.ourNonce.get(conn);
    assert.ok(ours, `${this.sc.id} seq ${ev.seq}: no SERVER_TIME_NONCE received on ${conn}`);
    // A second login on a logged-in connection must not disturb the session it already has.
    let session = this.sessions.get(conn);
    if (!session || session.authorized) {
      const fresh = new BohoSession();
      if (!session) this.sessions.set(conn, fresh);
      session = fresh;
    }
    const msg = session.authReq(id, rightKey ? key : 'not-the-key', ours);
    assert.ok(msg);
    return msg;
  }

  /** Checks a transcript note about the client side (login verified, E2E payload opened). */
  async checkNote(note: string, seq: number): Promise<void> {
    let m = /^(\w+): client verify_auth_res\(\) -> true$/.exec(note);
    if (m) {
      await this.settle();
      assert.equal(this.sessions.get(m[1]!)?.authorized, true, `${this.sc.id} seq ${seq}: ${note}`);
      return;
    }
    m = /^(\w+): decrypt_e2e\(payload, '([^']*)'\) -> data hex ([0-9a-f]+)/.exec(note);
    if (m) {
      await this.settle();
      const e2e = (this.received.get(m[1]!) ?? []).filter((b) => b[0] === 0xd2).at(-1);
      assert.ok(e2e, `${this.sc.id} seq ${seq}: ${m[1]} received no SIGNAL_E2E`);
      const payload = e2e.subarray(2 + e2e[1]! + 1);
      assert.equal(decryptE2E(payload, m[2]!)?.toString('hex'), m[3], `${this.sc.id} seq ${seq}: ${note}`);
    }
  }

  /**
   * The connection that sent an AUTH_REQ since the last settle. It is collected first: its ECHO is held until the
   * login is decided (AUTH_FAIL after the delay, or the admission with its effects on other connections, such as
   * a replaced duplicate), so the round trips of the others come after every effect of the login.
   */
  private loginFirst: string | null = null;

  /** Collects what every open connection received since the last settle and compares it. */
  async settle(): Promise<void> {
    const first = this.loginFirst;
    this.loginFirst = null;
    const order = [...this.clients].sort(([a], [b]) => Number(b === first) - Number(a === first));
    for (const [conn, c] of order) {
      if (this.done.has(conn)) continue;
      const window = this.pending.get(conn)!;
      this.pending.set(conn, []);
      if (this.expectClose.has(conn)) {
        const evs: RxEvent[] = [];
        const end = Date.now() + 2000;
        for (;;) {
          try {
            evs.push(await c.nextEvent(Math.max(1, end - Date.now())));
          } catch (err) {
            if (err instanceof TimeoutError) {
              assert.fail(`${this.sc.id}: conn ${conn}: server did not close the connection (seq ${this.expectClose.get(conn)})`);
            }
            break; // closed, queue drained
          }
        }
        assert.ok(c.closed);
        this.compare(conn, this.toItems(conn, evs), window);
        this.done.add(conn);
        continue;
      }
      if (c.closed) {
        assert.fail(`${this.sc.id}: conn ${conn} was closed by the server, but the transcript does not close it`);
      }
      let evs: RxEvent[];
      if (this.rawTail.get(conn)!.length === 0) {
        evs = await this.syncConn(conn, c);
        // In memory every link is served in the same event-loop turn, so this connection's ECHO can be answered
        // before another connection's publish from that turn reaches it (nothing orders two connections; on a
        // socket the round trip hides it). A second round trip collects what the first one overtook.
        if (this.inMemory.size > 0) evs = [...evs, ...(await this.syncConn(conn, c))];
      } else {
        // In the middle of a hand-written frame: no round trip possible, wait for the expected count.
        const want = Math.max(...Replay.candidates(window).map((x) => x.length));
        evs = [];
        const end = Date.now() + 500;
        while (evs.length < want && Date.now() < end) {
          try {
            evs.push(await c.nextEvent(Math.max(1, end - Date.now())));
          } catch {
            break;
          }
        }
      }
      this.compare(conn, this.toItems(conn, evs), window);
    }
  }

  async run(report: (line: string) => void): Promise<void> {
    const skipConns = new Set(
      NOT_REPLAYED.filter((n) => n.scenario === this.sc.id && n.conn).map((n) => n.conn as string),
    );
    const skipSeqs = new Set(NOT_REPLAYED.filter((n) => n.scenario === this.sc.id).flatMap((n) => n.seqs ?? []));
    const devs = new Map(DEVIATIONS.filter((d) => d.scenario === this.sc.id).map((d) => [d.seq, d]));

    for (const ev of this.sc.events) {
      const seq = ev.seq ?? -1;
      if (skipSeqs.has(seq) || (ev.conn && skipConns.has(ev.conn))) {
        report(`seq ${seq} not replayed (${ev.conn ?? ev.event ?? ev.note ?? ''})`);
        continue;
      }
      const dev = devs.get(seq);
      if (dev) report(`seq ${seq}: ${dev.q}: ${dev.why}`);

      if (!ev.conn) {
        if (ev.note) await this.checkNote(ev.note, seq);
        if (ev.event) {
          const call = SERVER_CALLS.find((s) => ev.event!.includes(s.match));
          assert.ok(call, `${this.sc.id} seq ${seq}: unknown server-side call ${ev.event}`);
          await this.settle();
          call.run(this.server);
        }
        continue;
      }
      const conn = ev.conn;
      if (!this.clients.has(conn)) await this.open(conn);
      const c = this.clients.get(conn)!;

      if (ev.dir === 'S>C') {
        if (ev.event) {
          if (dev) this.expect(conn, seq, dev.instead);
          else this.expectClose.set(conn, seq);
          continue;
        }
        if (ev.msg_hex?.startsWith('b0')) this.refNonce.set(conn, Buffer.from(ev.msg_hex, 'hex'));
        const d = ev.decoded;
        const item: Item = ev.ws_control
          ? { kind: ev.ws_control }
          : d?.type === 'ENC_488'
            ? { kind: 'msg', hex: d.plaintext_hex!, enc: 'b8' }
            : d?.type === 'ENC_E2E'
              ? { kind: 'msg', hex: d.inner_hex!, enc: 'b7' }
              : d?.type === 'AUTH_RES'
                ? { kind: 'msg', hex: ev.msg_hex!, enc: 'b2' }
                : { kind: 'msg', hex: ev.msg_hex! };
        this.expect(conn, seq, dev ? dev.instead : [[item]]);
        if (dev?.thenClosed) this.expectClose.set(conn, seq);
        continue;
      }

      // C>S: first make sure every earlier effect has been seen, then act.
      await this.settle();
      if (ev.event) {
        // "client closed the connection"
        this.closedByClient.add(conn);
        this.done.add(conn);
        await c.close();
        const stillOpen = [...this.clients.keys()].filter((k) => !this.done.has(k)).length;
        await pollUntil(() => this.server.metrics().connections <= stillOpen, 2000);
        continue;
      }
      if (ev.raw_wire_hex !== undefined) {
        const bytes = this.subst(Buffer.from(ev.raw_wire_hex, 'hex'));
        const dropped = this.trackRaw(conn, bytes);
        c.sendRaw(bytes);
        // Each raw event was its own TCP read in the reference run. After a bad type byte the server
        // drops its whole receive buffer (Q5), so the next write must not share a TCP read with it.
        await sleep(dropped ? 50 : 10);
        continue;
      }
      if (ev.ws_frame === 'text') {
        c.sendText(ev.text ?? '');
        continue;
      }
      let msg = this.subst(Buffer.from(ev.msg_hex!, 'hex'));
      const type = ev.decoded?.type;
      if (type === 'AUTH_REQ') {
        msg = this.authReq(conn, ev);
      } else if (type === 'ENC_488' || type === 'ENC_E2E') {
        const session = this.sessions.get(conn);
        assert.ok(session?.authorized, `${this.sc.id} seq ${seq}: ${conn} sends ${type} without a login`);
        const enc =
          type === 'ENC_488'
            ? session.encrypt488(this.subst(Buffer.from(ev.decoded!.plaintext_hex!, 'hex')))
            : session.sealE2E(this.subst(Buffer.from(ev.decoded!.inner_hex!, 'hex')), ev.decoded!.encLen!);
        assert.ok(enc);
        msg = enc;
      }
      if (dev) this.expect(conn, seq, dev.instead);
      if (ev.frame_header_hex !== undefined) {
        const header = Buffer.from(ev.frame_header_hex, 'hex');
        assert.equal(header.toString('hex'), encodeFrameHeader(msg.length).toString('hex'), 'transcript frame header');
        // The in-memory link carries whole messages: the header was checked, the message goes as one.
        if (this.inMemory.has(conn)) c.send(msg);
        else c.sendRaw(Buffer.concat([header, msg]));
      } else {
        c.send(msg);
      }
      if (type === 'AUTH_REQ') this.loginFirst = conn;
      // Services answer asynchronously, after the server has gone on with later messages (like the
      // sync ECHO): give the RESPONSE_MBP time to be written first.
      const inner = type === 'ENC_488' ? ev.decoded!.plaintext_hex!.slice(0, 2) : ev.msg_hex!.slice(0, 2);
      if (inner === 'de') await sleep(CALL_WAIT_MS);
    }
    await this.settle();
    for (const [conn, c] of this.clients) {
      assert.deepEqual(c.framingProblems, [], `${this.sc.id}: conn ${conn}: framing of the server's output`);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close(500)));
  }
}

/** How the replay reaches the server: every connection over its recorded socket, in memory, or alternating. */
type Via = 'sockets' | 'in-memory' | 'mixed';

/** Raw TCP bytes and WebSocket control frames exist only on a socket. */
function socketOnly(sc: Scenario): string | null {
  if (sc.events.some((ev) => ev.raw_wire_hex !== undefined)) return 'raw CongSocket bytes need a socket';
  if (sc.events.some((ev) => ev.ws_control !== undefined)) return 'WebSocket control frames need a socket';
  return null;
}

function connKinds(sc: Scenario): Map<string, Transport> {
  const kinds = new Map<string, Transport>();
  for (const ev of sc.events) {
    if (!ev.conn || kinds.has(ev.conn)) continue;
    if (ev.frame_header_hex !== undefined || ev.raw_wire_hex !== undefined) kinds.set(ev.conn, 'cong');
    else if (ev.ws_frame !== undefined || ev.ws_control !== undefined) kinds.set(ev.conn, 'ws');
  }
  return kinds;
}

/** Connections the reference saw with X-Forwarded-For 203.0.113.7 (their IAM_RES shows it), and W. */
function xffConns(sc: Scenario, kinds: Map<string, Transport>): Set<string> {
  const out = new Set<string>();
  for (const ev of sc.events) {
    if (ev.conn && ev.dir === 'S>C' && ev.decoded?.json?.ip === XFF_IP) out.add(ev.conn);
  }
  if (kinds.get('W') === 'ws') out.add('W');
  return out;
}

describe('replay of transcripts_inprocess.json (iosignal 5.1.4 reference) against iosig', () => {
  it('every scenario is either replayed or skipped with a reason', () => {
    const ids = transcripts.scenarios.map((s) => s.id).sort();
    assert.deepEqual(ids, [...REPLAYED, ...Object.keys(SKIPPED)].sort());
  });

  for (const via of ['sockets', 'in-memory', 'mixed'] as const) {
    describe(`over ${via === 'mixed' ? 'in-memory and socket connections, alternating' : via}`, () => {
      const servers: IosigServer[] = [];
      after(async () => {
        await Promise.all(servers.map((s) => s.close()));
      });

      for (const sc of transcripts.scenarios) {
        const skip = SKIPPED[sc.id] ?? (via === 'sockets' ? null : socketOnly(sc));
        if (skip) {
          it(sc.id, (t) => {
            t.skip(skip);
          });
          continue;
        }
        it(`${sc.id}: ${sc.title}`, { timeout: 30_000 }, async (t) => {
          const server = await createServer({
            port: 0,
            congPort: 0,
            host: '127.0.0.1',
            log: () => {},
            ...serverOptions(sc.config, transcripts.auth_param),
          });
          servers.push(server);
          const kinds = connKinds(sc);
          const replay = new Replay(sc, server, kinds, xffConns(sc, kinds), via);
          try {
            await replay.run((line) => t.diagnostic(line));
          } finally {
            await replay.closeAll();
            await server.close();
          }
        });
      }
    });
  }
});
