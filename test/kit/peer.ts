// Shared pieces for the security tests (docs/protocol.md §4, §5.9, §8): a logged-in protocol peer built on
// BohoSession, a TLS-capable wire (wss / TLS CongSocket), test certificates made with openssl at run time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BohoSession } from '../../src/crypto/boho.js';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import { type ClientPool, RawClient, type RawClientOptions, type Transport } from './raw-client.js';
import type { WireTls } from './wire.js';
import { TimeoutError, waitFor } from './wait.js';
import { tool } from './tools.js';
import { portOf, type IosigServer } from './server.js';
import { hex } from './messages.js';


/** What a Peer needs from a connection: RawClient has it, and so has TlsWire. */
export interface Wire {
  readonly kind: string;
  readonly closed: boolean;
  send(msg: Uint8Array): void;
  next(timeoutMs?: number): Promise<Buffer>;
  waitClosed(timeoutMs: number): Promise<void>;
  close(timeoutMs?: number): Promise<void>;
}

export interface Received {
  /** The bytes on the wire. */
  wire: Buffer;
  /** The message after ENC_488 / ENC_E2E is opened (the same bytes when it came plain). */
  plain: Buffer;
  encrypted: boolean;
}

export const CID_REQ = Buffer.from([MSG.CID_REQ]);
export const IAM_MSG = Buffer.from([MSG.IAM]);
export const AUTH_FAIL_HEX = 'b3';

/** A client side of the protocol: greeting, login through BohoSession, sending and reading encrypted messages. */
export class Peer {
  readonly boho = new BohoSession();
  /** The RawClient under this peer, when it is one (openPeer sets it). */
  raw: RawClient | null = null;
  hello: Buffer = Buffer.alloc(0);
  cid = '';
  private syncs = 0;

  constructor(readonly wire: Wire) {}

  get label(): string {
    return `${this.wire.kind}${this.cid ? ' ' + this.cid : ''}`;
  }

  /** Reads the opening sequence: SERVER_TIME_NONCE (13 bytes) then SERVER_READY. */
  async greet(timeoutMs = 2000): Promise<void> {
    const hello = await this.wire.next(timeoutMs);
    assert.equal(hello.length, 13, `SERVER_TIME_NONCE length, got ${hex(hello)}`);
    assert.equal(hello[0], MSG.SERVER_TIME_NONCE, `SERVER_TIME_NONCE type, got ${hex(hello)}`);
    const ready = await this.wire.next(timeoutMs);
    assert.equal(hex(ready), 'c0', 'SERVER_READY');
    this.hello = hello;
  }

  /** A 45-byte AUTH_REQ for this connection's nonce (the session forgets any earlier login). */
  authReq(id: string, key: string): Buffer {
    const req = this.boho.authReq(id, key, this.hello);
    assert.ok(req, 'authReq needs the SERVER_TIME_NONCE');
    assert.equal(req.length, 45);
    return req;
  }

  /** Expects QUOTA_LEVEL then a 33-byte AUTH_RES that verifies; returns the level. */
  async expectAuthOk(timeoutMs = 3000): Promise<number> {
    const quota = await this.wire.next(timeoutMs);
    assert.equal(quota.length, 2, `QUOTA_LEVEL expected, got ${hex(quota)}`);
    assert.equal(quota[0], MSG.QUOTA_LEVEL, `QUOTA_LEVEL expected, got ${hex(quota)}`);
    const res = await this.wire.next(timeoutMs);
    assert.equal(res[0], MSG.AUTH_RES, `AUTH_RES expected, got ${hex(res)}`);
    assert.equal(res.length, 33, 'AUTH_RES is 33 bytes');
    assert.ok(this.boho.verifyAuthRes(res), 'AUTH_RES verifies with the key');
    return quota[1]!;
  }

  /** Expects AUTH_FAIL [B3]; returns how long it took from `since`. */
  async expectAuthFail(since: number, timeoutMs = 3000): Promise<number> {
    const msg = await this.wire.next(timeoutMs);
    assert.equal(hex(msg), AUTH_FAIL_HEX, 'AUTH_FAIL');
    return Date.now() - since;
  }

  /**
   * Full login: AUTH_REQ → QUOTA_LEVEL + AUTH_RES → CID_REQ → CID_RES (ENC_488 unless `plainSession`,
   * i.e. TLS). Returns the level and the cid.
   */
  async login(id: string, key: string, plainSession = false): Promise<{ level: number; cid: string }> {
    this.wire.send(this.authReq(id, key));
    const level = await this.expectAuthOk();
    this.wire.send(CID_REQ);
    const res = await this.nextPlain();
    assert.equal(res.encrypted, !plainSession, `CID_RES ${plainSession ? 'plaintext (TLS)' : 'encrypted as ENC_488'}: ${hex(res.wire)}`);
    if (!plainSession) assert.equal(res.wire[0], MSG.ENC_488, 'CID_RES travels as ENC_488');
    assert.equal(res.plain[0], MSG.CID_RES, `CID_RES, got ${hex(res.plain)}`);
    this.cid = res.plain.subarray(1).toString('utf8');
    return { level, cid: this.cid };
  }

  /** Anonymous CID_REQ; the reply must be plaintext. */
  async anonymousCid(): Promise<string> {
    this.wire.send(CID_REQ);
    const res = await this.wire.next(2000);
    assert.equal(res[0], MSG.CID_RES, `plain CID_RES expected, got ${hex(res)}`);
    this.cid = res.subarray(1).toString('utf8');
    return this.cid;
  }

  /** Next message, opened when it is ENC_488 or ENC_E2E (it must open). */
  async nextPlain(timeoutMs = 2000): Promise<Received> {
    const msg = await this.wire.next(timeoutMs);
    if (msg[0] === MSG.ENC_488) {
      const plain = this.boho.decrypt488(msg);
      assert.ok(plain, `ENC_488 from the server must decrypt: ${hex(msg)}`);
      return { wire: msg, plain, encrypted: true };
    }
    if (msg[0] === MSG.ENC_E2E) {
      const plain = this.boho.openE2E(msg);
      assert.ok(plain, `ENC_E2E from the server must open: ${hex(msg)}`);
      return { wire: msg, plain, encrypted: true };
    }
    return { wire: msg, plain: msg, encrypted: false };
  }

  /** ENC_488 of `msg` under this session. */
  seal(msg: Uint8Array): Buffer {
    const sealed = this.boho.encrypt488(msg);
    assert.ok(sealed, 'encrypt488 needs a logged-in session');
    return sealed;
  }

  sendEnc(msg: Uint8Array): void {
    this.wire.send(this.seal(msg));
  }

  /** IAM and its reply (opened); returns the JSON and whether it came encrypted. */
  async iam(): Promise<{ json: { cid: string; did: string; level: number; nick: string }; encrypted: boolean }> {
    this.wire.send(IAM_MSG);
    const res = await this.nextPlain();
    assert.equal(res.plain[0], MSG.IAM_RES, `IAM_RES expected, got ${hex(res.plain)}`);
    const json = JSON.parse(res.plain.subarray(1).toString('utf8')) as { cid: string; did: string; level: number; nick: string };
    return { json, encrypted: res.encrypted };
  }

  /**
   * Round trip: a short ECHO with a unique marker (plain), then everything the server sent before the
   * echo comes back (opened). The echo itself may come encrypted (Q9 fix).
   */
  async sync(timeoutMs = 2000): Promise<Received[]> {
    const n = ++this.syncs;
    const marker = Buffer.from([MSG.ECHO, 0x7e, 0x53, 0x45, 0x43, (n >>> 8) & 0xff, n & 0xff]);
    this.wire.send(marker);
    const end = Date.now() + timeoutMs;
    const before: Received[] = [];
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) throw new TimeoutError(`the sync ECHO on ${this.label}`, timeoutMs);
      const got = await this.nextPlain(left);
      if (got.plain.equals(marker)) return before;
      before.push(got);
    }
  }

  /** Asserts that nothing but the sync echo arrives. */
  async quiet(): Promise<void> {
    const got = await this.sync();
    assert.deepEqual(
      got.map((r) => hex(r.wire)),
      [],
      `${this.label} expected nothing`,
    );
  }
}

/** Opens a RawClient (tracked by `pool`) and reads the greeting. */
export async function openPeer(pool: ClientPool, server: IosigServer, kind: Transport, opts?: RawClientOptions): Promise<Peer> {
  return greeted(await pool.open(kind, portOf(server, kind), opts));
}

/** Like openPeer, over the server's in-memory link (`localAddress` and X-Forwarded-For become the peer's). */
export async function openMemoryPeer(pool: ClientPool, server: IosigServer, kind: Transport, opts?: RawClientOptions): Promise<Peer> {
  return greeted(await pool.open(kind, { memory: server }, opts));
}

async function greeted(raw: RawClient): Promise<Peer> {
  const peer = new Peer(raw);
  peer.raw = raw;
  await peer.greet();
  return peer;
}

/** Opens and logs in. */
export async function loggedIn(
  pool: ClientPool,
  server: IosigServer,
  kind: Transport,
  id: string,
  key: string,
  opts?: RawClientOptions,
): Promise<Peer> {
  const peer = await openPeer(pool, server, kind, opts);
  await peer.login(id, key);
  return peer;
}

/** SIGNAL with a TEXT payload. */
export const textSignal = (tag: string, value: string): Buffer => encodeSignal(tag, PAYLOAD.TEXT, Buffer.from(value + '\0', 'utf8'));

/** SIGNAL_E2E: `D2 tagLen tag 02 ‖ ENC_PACK`. */
export function signalE2E(tag: string, pack: Uint8Array): Buffer {
  return encodeSignal(tag, PAYLOAD.BINARY, pack, MSG.SIGNAL_E2E);
}

// ---- TLS wire -------------------------------------------------------------------------------

export type TlsKind = 'wss' | 'tls-cong';

export interface TlsClientOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** A wss or TLS CongSocket client: a RawClient over the shared wire (test/kit/wire.ts) with TLS settings. */
export type TlsWire = RawClient;

export const TlsWire = {
  /** Connects; resolves once the TLS (and WebSocket) handshake is done, rejects when it is refused. */
  connect(kind: TlsKind, port: number, opts: TlsClientOptions): Promise<RawClient> {
    const tls: WireTls = {};
    if (opts.ca) tls.ca = opts.ca;
    if (opts.cert) tls.cert = opts.cert;
    if (opts.key) tls.key = opts.key;
    return RawClient.connect(kind === 'wss' ? 'ws' : 'cong', port, {
      tls,
      connectTimeoutMs: opts.timeoutMs ?? 3000,
      ...(opts.headers ? { headers: opts.headers } : {}),
    });
  },

  /** Connects and returns the wire even when the server refuses later; never rejects on refusal. */
  async attempt(kind: TlsKind, port: number, opts: TlsClientOptions): Promise<{ wire: RawClient | null; error: string }> {
    try {
      return { wire: await TlsWire.connect(kind, port, opts), error: '' };
    } catch (err) {
      return { wire: null, error: err instanceof Error ? err.message : String(err) };
    }
  },
};

// ---- certificates ---------------------------------------------------------------------------

export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A self-signed client certificate that no configured CA vouches for. */
  rogueCert: string;
  rogueKey: string;
  read(path: string): Buffer;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync(tool('openssl'), args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

/** A CA, a server certificate (SAN IP:127.0.0.1, DNS:localhost), a CA-signed client certificate and a self-signed one. */
export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'iosig-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=iosig test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext'], dir);
  openssl(['req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=iosig-client'], dir);
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2', '-extfile', 'client.ext'], dir);
  openssl(['req', '-x509', ...ec, '-keyout', 'rogue.key', '-out', 'rogue.pem', '-days', '2', '-subj', '/CN=rogue-client'], dir);
  const path = (name: string): string => join(dir, name);
  return {
    dir,
    caCert: path('ca.pem'),
    serverCert: path('server.pem'),
    serverKey: path('server.key'),
    clientCert: path('client.pem'),
    clientKey: path('client.key'),
    rogueCert: path('rogue.pem'),
    rogueKey: path('rogue.key'),
    read: (p: string) => readFileSync(p),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A temp directory removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** True when a plain TCP connection to the port is accepted (the server is still up). */
export function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), 1000);
    s.on('connect', () => finish(true));
    s.on('error', () => finish(false));
  });
}

/** The keepalive probe a duplicate login causes (§4.8): a ws ping frame, or a PING [CD] message on cong. */
export async function expectProbe(peer: Peer, pingsBefore = 0, timeoutMs = 2000): Promise<void> {
  const raw = peer.raw;
  assert.ok(raw, 'expectProbe needs a RawClient peer');
  if (raw.kind === 'ws') await waitFor(() => raw.pings > pingsBefore, timeoutMs, 'a ws ping frame');
  else assert.equal(hex(await raw.next(timeoutMs)), 'cd', 'PING [CD] probe on cong');
}

/** Waits until the server has forgotten every connection (so the next test may reuse identities). */
export async function drained(...servers: IosigServer[]): Promise<void> {
  for (const server of servers) await waitFor(() => server.metrics().connections === 0, 3000, 'the server to drop every connection');
}
