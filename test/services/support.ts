// A protocol peer for the service tests: anonymous or logged in, it sends raw CALL bytes and reads
// RESPONSE_MBP, opening ENC_488 when the server encrypts (logged in, no TLS).
import assert from 'node:assert/strict';
import type { IosigServer } from '../../src/index.js';
import type { ServerOptionsInput } from '../../src/options.js';
import { BohoSession } from '../../src/crypto/boho.js';
import { MSG } from '../../src/protocol/codes.js';
import { decodeResponseMbp, encodeCall, type ResponseMbp } from '../../src/protocol/rpc.js';
import type { Service } from '../../src/services/service.js';
import type { ClientPool, RawClient, Transport } from '../kit/raw-client.js';
import { startServer as startKitServer } from '../kit/server.js';

export const ADMIN = { id: 'admin', key: 'admin-key', cid: 'ADMIN' } as const;
export const DEVICE = { id: 'dev1', key: 'k1', cid: 'D1' } as const;
/** admin logs in at level 255, dev1 at level 3. */
export const AUTH_PARAM = `${ADMIN.id}.${ADMIN.key}.${ADMIN.cid}.255,${DEVICE.id}.${DEVICE.key}.${DEVICE.cid}.3`;

const REPLY_WAIT_MS = 3000;

export interface TestServerOptions {
  /** false: no key store at all (default: the AUTH_PARAM devices). */
  auth?: boolean;
  /** Collects the server log. */
  lines?: string[];
  /** Other server options, passed through. */
  server?: ServerOptionsInput;
}

/** A server on free loopback ports with `services` attached. */
export async function startServer(services: Service[], opts: TestServerOptions = {}): Promise<IosigServer> {
  return startKitServer({ ...(opts.auth === false ? {} : { auth: { param: AUTH_PARAM } }), ...opts.server, services }, opts.lines);
}


export class ServicePeer {
  readonly session = new BohoSession();
  cid = '';
  /** The SERVER_TIME_NONCE message, for AUTH_REQ. */
  hello: Buffer = Buffer.alloc(0);
  private nextMid = 1;

  private constructor(readonly raw: RawClient) {}

  /** Connects and reads SERVER_TIME_NONCE and SERVER_READY. */
  static async open(pool: ClientPool, kind: Transport, port: number): Promise<ServicePeer> {
    const peer = new ServicePeer(await pool.open(kind, port));
    peer.hello = await peer.raw.next(2000);
    assert.equal(peer.hello[0], MSG.SERVER_TIME_NONCE, 'SERVER_TIME_NONCE first');
    assert.deepEqual([...(await peer.raw.next(2000))], [MSG.SERVER_READY], 'then SERVER_READY');
    return peer;
  }

  /** An anonymous connection with a CID. */
  static async anonymous(pool: ClientPool, kind: Transport, port: number): Promise<ServicePeer> {
    const peer = await ServicePeer.open(pool, kind, port);
    peer.raw.send(Buffer.from([MSG.CID_REQ]));
    const res = await peer.raw.next(2000);
    assert.equal(res[0], MSG.CID_RES, 'plain CID_RES');
    peer.cid = res.subarray(1).toString('utf8');
    return peer;
  }

  /** A logged-in connection with its stored CID; returns the peer and the level from QUOTA_LEVEL. */
  static async login(pool: ClientPool, kind: Transport, port: number, id: string, key: string): Promise<ServicePeer> {
    const peer = await ServicePeer.open(pool, kind, port);
    const req = peer.session.authReq(id, key, peer.hello);
    assert.ok(req, 'AUTH_REQ');
    peer.raw.send(req);
    const quota = await peer.raw.next(3000);
    assert.equal(quota[0], MSG.QUOTA_LEVEL, `QUOTA_LEVEL expected for ${id}, got ${quota.toString('hex')}`);
    const res = await peer.raw.next(3000);
    assert.ok(peer.session.verifyAuthRes(res), `AUTH_RES for ${id} verifies`);
    peer.raw.send(Buffer.from([MSG.CID_REQ]));
    const cidRes = peer.open(await peer.raw.next(2000));
    assert.equal(cidRes[0], MSG.CID_RES, 'CID_RES');
    peer.cid = cidRes.subarray(1).toString('utf8');
    return peer;
  }

  /** A message as sent before encryption: ENC_488 is opened (it must open), anything else is returned as it is. */
  open(msg: Buffer): Buffer {
    if (msg[0] !== MSG.ENC_488) return msg;
    const plain = this.session.decrypt488(msg);
    assert.ok(plain, `ENC_488 from the server opens: ${msg.toString('hex')}`);
    return plain;
  }

  /** Sends a CALL and waits for the RESPONSE_MBP with its mid (other messages in between are skipped). */
  async call(target: string, topic: string, ...args: unknown[]): Promise<ResponseMbp & { encrypted: boolean }> {
    const mid = this.nextMid++;
    this.raw.send(encodeCall(mid, target, topic, ...args));
    const end = Date.now() + REPLY_WAIT_MS;
    for (;;) {
      const wire = await this.raw.next(Math.max(1, end - Date.now()));
      const plain = this.open(wire);
      if (plain[0] !== MSG.RESPONSE_MBP) continue;
      const res = decodeResponseMbp(plain);
      assert.ok(res, `RESPONSE_MBP decodes: ${plain.toString('hex')}`);
      if (res.mid === mid) return { ...res, encrypted: wire[0] === MSG.ENC_488 };
    }
  }
}

/** Asserts a reply's status and body; `{ status: 0 }` with no `body` key means the body must be absent. */
export function assertReply(res: ResponseMbp, expected: { status: number; body?: unknown }, what = 'reply'): void {
  assert.equal(res.status, expected.status, `${what}: status (body ${JSON.stringify(res.body)})`);
  assert.deepEqual(res.body, expected.body, `${what}: body`);
}
