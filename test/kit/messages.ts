// Raw protocol messages for tests that speak the wire byte by byte: builders, the IAM check, quiet and exact reads.
import assert from 'node:assert/strict';
import type { IamInfo } from '../../src/protocol/messages.js';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { encodeSignal, encodeSubscribeReq, encodeTagMessage } from '../../src/protocol/messages.js';
import type { RawClient } from './raw-client.js';

export const b = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
export const hex = (buf: Uint8Array): string => Buffer.from(buf).toString('hex');

/** SIGNAL with a TEXT payload (text + one NUL, §5.2). */
export const text = (tag: string, value: string): Buffer =>
  encodeSignal(tag, PAYLOAD.TEXT, Buffer.from(value + '\0', 'utf8'));
export const empty = (tag: string): Buffer => encodeSignal(tag, PAYLOAD.EMPTY);
export const sub = (tags: string): Buffer => encodeTagMessage(MSG.SUBSCRIBE, tags);
export const unsub = (tags: string): Buffer => encodeTagMessage(MSG.UNSUBSCRIBE, tags);
export const subReq = (mid: number, tags: string): Buffer => encodeSubscribeReq(mid, tags);
export const IAM = Buffer.from([MSG.IAM]);
export const PING = Buffer.from([MSG.PING]);
export const PONG = Buffer.from([MSG.PONG]);
export const CID_REQ = Buffer.from([MSG.CID_REQ]);

/** The close notice payload `TEXT 'close\0'` (§5.8). */
export const closeNotice = (cid: string, topic: '@state' | '@$state'): Buffer => text(cid + topic, 'close');

export type IamJson = IamInfo;

export const IAM_KEYS = ['ssid', 'cid', 'did', 'uid', 'level', 'nick', 'ip', 'tag'];

/** Sends IAM (optionally with a nick) and returns the checked IAM_RES JSON (§3.8: keys in this order). */
export async function iam(c: RawClient, nick?: string): Promise<IamJson> {
  c.send(nick === undefined ? IAM : Buffer.concat([IAM, Buffer.from(nick, 'utf8')]));
  const res = await c.next(2000);
  assert.equal(res[0], MSG.IAM_RES, `expected IAM_RES, got ${hex(res)}`);
  const json = JSON.parse(res.subarray(1).toString('utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), IAM_KEYS, 'IAM_RES keys and their order (§3.8)');
  assert.equal(typeof json.ssid, 'number');
  assert.equal(typeof json.level, 'number');
  for (const k of ['cid', 'did', 'uid', 'nick', 'ip']) assert.equal(typeof json[k], 'string', `IAM_RES ${k}`);
  assert.ok(Array.isArray(json.tag), 'IAM_RES tag is an array');
  return json as unknown as IamJson;
}

/** Asserts that none of the clients got anything: each does a round trip and must see no message before it. */
export async function assertQuiet(...clients: RawClient[]): Promise<void> {
  for (const c of clients) {
    const got = await c.sync();
    assert.deepEqual(got.map(hex), [], `${c.kind} client ${c.cid || '(no cid)'} expected nothing`);
  }
}

/** Next message must equal `expected` exactly. */
export async function expectMsg(c: RawClient, expected: Uint8Array, what = 'message'): Promise<void> {
  const got = await c.next(2000);
  assert.equal(hex(got), hex(expected), `${what} on ${c.kind} client ${c.cid}`);
}

export const ANON_CID = /^\?[A-Za-z0-9_-]{4}$/;
