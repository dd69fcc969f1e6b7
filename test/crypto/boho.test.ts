// Boho session crypto against the reference vectors (boho.json, auth_keys.json, docs/protocol.md §4.9), plus round trips and fuzzing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BohoSession,
  decryptE2E,
  decryptPack,
  id8,
  idFromId8,
  keyFromStored,
  keyFromString,
  parseAuthReq,
  splitIdKey,
  storedKeyForm,
} from '../../src/crypto/boho.js';
import { sha256, tag8, timeSalt, xotp } from '../../src/crypto/otp.js';
import { hex, loadVector, unhex } from '../kit/vectors.js';

// ---- vector shapes (only the fields these tests read) ----

interface Draw {
  len: number;
  hex: string;
}
interface SessionState {
  key32: string;
  localNonce: string;
  remoteNonce: string;
  counter: number;
  isAuthorized: boolean;
}
interface Trace {
  otpSrc44: string;
  otp32_sha256_of_otpSrc44: string;
  hmac8_sha256_of_otpSrc44_concat_plaintext_first8: string;
  keystream_blocks: { index: number; keystream32: string }[];
}
interface Encrypt488 {
  label: string;
  direction: 'client -> server' | 'server -> client';
  Date_now_ms: number;
  sender_counter_before: number;
  counter_used: number;
  nonce_used: string;
  plaintext_hex: string;
  ciphertext_hex: string;
  ciphertext_fields: { otpSrc8: string; hmac8: string };
  trace: Trace;
  receiver_decrypt_488_hex: string;
}
interface PackResult {
  len: number;
  salt12: { $hex: string };
  hmac: { $hex: string };
  data: { $hex: string };
}
interface BohoVectors {
  key_derivation: {
    set_id8: { id: string; id8: string }[];
    set_key: { key: string; key32: string }[];
    set_id_key: { input: string; id8: string; key32: string }[];
  };
  handshake: {
    fixed: { server_Date_now_ms: number; server_random_calls_in_order: Draw[] };
    server_time_nonce: { hex: string; server_state_after: { auth_salt12: string; localNonce: string } };
    client_auth_req: {
      client_id: string;
      client_key: string;
      client_random_calls_in_order: Draw[];
      hex: string;
      fields: { id8: string; clientNonce: string; hmac32: string };
      hmac32_input_hex: string;
      client_state_after: SessionState;
    };
    server_verify_auth_req: {
      stored_key_base64: string;
      auth_res_hex: string;
      hmac32_input_hex: string;
      server_state_after: SessionState;
    };
    client_verify_auth_res: { result: boolean; client_state_after: SessionState };
    wrong_key: { verify_auth_req_result: boolean; server_isAuthorized_after: boolean };
  };
  encrypt_488: Encrypt488[];
  decrypt_488_failures: { label: string; hex?: string; Date_now_ms?: number }[];
  encryptPack: {
    Date_now_ms: number;
    counter_before: number;
    counter_used: number;
    random_calls_in_order: Draw[];
    plaintext_hex: string;
    pack_hex: string;
    trace: Trace;
    decryptPack_result: PackResult;
  };
  e2e: {
    e2e_key: string;
    e2e_key32: string;
    Date_now_ms: number;
    counter_before: number;
    random_calls_in_order: Draw[];
    plaintext_hex: string;
    encrypt_e2e_hex: string;
    decrypt_e2e_result: PackResult;
  };
  signal_e2e_relay: {
    receiver_session: {
      server_Date_now_ms: number;
      server_random_calls: string[];
      client_random_calls: string[];
      server_time_nonce_hex: string;
      auth_req_hex: string;
      auth_res_hex: string;
      key: string;
    };
    sender: {
      Date_now_ms: number;
      counter_before: number;
      random_calls_in_order: Draw[];
      wire_hex: string;
      wire_decoded: { decrypted_header_hex: string; inner_hex: string; inner: { tag: string } };
    };
    server_after_decrypt: { inner_hex: string };
    relay_to_authorized_receiver: {
      Date_now_ms: number;
      server_counter_used: number;
      hex: string;
      receiver_decrypt_e2e: PackResult;
    };
    relay_to_anonymous_receiver: { hex: string };
  };
  sha256_check: { input_utf8: string; sha256: string };
}
interface AuthKeyVectors {
  hashing: { key: string; sha256_hex: string; stored_base64: string; stored_length: number }[];
  providers: {
    StringKeyProvider: { input: string; entries: Record<string, { key: string }> };
    FileKeyProvider: { input_json: [string, string, string, number][]; entries: Record<string, { key: string }> };
  };
  server_key_selection: {
    stored: string;
    client_key: string;
    server_key32: string;
    client_key32: string;
    login_succeeds: boolean;
  }[];
  id_matching: { examples: { client_id: string; id8: string; id_seen_by_server: string }[] };
}

const boho = loadVector<BohoVectors>('boho.json');
const authKeys = loadVector<AuthKeyVectors>('auth_keys.json');

// ---- deterministic sessions ----

/** The clock and random draws a session sees; tests move `now` and queue `draws` (hex) between calls. */
interface Script {
  now: number;
  draws: string[];
}

function scriptedSession(script: Script): BohoSession {
  return new BohoSession({
    now: () => script.now,
    random: (size) => {
      const next = script.draws.shift();
      assert.ok(next !== undefined, `unexpected random(${size})`);
      const bytes = unhex(next);
      assert.equal(bytes.length, size, 'random draw size');
      return bytes;
    },
  });
}

const drawsOf = (draws: Draw[]): string[] => draws.map((draw) => draw.hex);
/** receiver_session lists draws as "11121314 (server nonce)". */
const drawsFromNotes = (notes: string[]): string[] => notes.map((note) => note.split(' ')[0]);

function assertState(session: BohoSession, expected: SessionState): void {
  assert.equal(hex(session.key), expected.key32);
  assert.equal(hex(session.localNonce), expected.localNonce);
  assert.equal(hex(session.remoteNonce), expected.remoteNonce);
  assert.equal(session.counter, expected.counter);
  assert.equal(session.authorized, expected.isAuthorized);
}

/** Runs a full login; every message must pass. */
function login(server: BohoSession, client: BohoSession, id: string, key: string, storedKey = storedKeyForm(key)) {
  const serverTimeNonce = server.serverTimeNonce();
  const authReq = client.authReq(id, key, serverTimeNonce);
  assert.ok(authReq);
  const request = parseAuthReq(authReq);
  assert.ok(request);
  const storedK = keyFromStored(storedKey);
  assert.ok(server.checkAuthReq(request, storedK));
  server.accept(storedK, request.clientNonce);
  const authRes = server.authRes();
  assert.ok(client.verifyAuthRes(authRes));
  return { serverTimeNonce, authReq, authRes, request };
}

/** The boho.json handshake: server (id1/key1 stored hashed) and client, both authorised. */
function vectorPair() {
  const h = boho.handshake;
  const serverScript: Script = { now: h.fixed.server_Date_now_ms, draws: drawsOf(h.fixed.server_random_calls_in_order) };
  const clientScript: Script = { now: 0, draws: drawsOf(h.client_auth_req.client_random_calls_in_order) };
  const server = scriptedSession(serverScript);
  const client = scriptedSession(clientScript);
  const wire = login(server, client, h.client_auth_req.client_id, h.client_auth_req.client_key, h.server_verify_auth_req.stored_key_base64);
  return { server, client, serverScript, clientScript, wire };
}

/** Two authorised sessions with real randomness and clock. */
function livePair(id = 'dev', key = 'k3y') {
  const server = new BohoSession();
  const client = new BohoSession();
  login(server, client, id, key);
  return { server, client };
}

/** Deterministic pseudo-random bytes (SHA-256 in counter mode) so fuzz failures reproduce. */
function seeded(seed: string): (size: number) => Buffer {
  let block = 0;
  return (size) => {
    const chunks: Buffer[] = [];
    for (let have = 0; have < size; have += 32) chunks.push(sha256(Buffer.from(`${seed}:${block++}`)));
    return Buffer.concat(chunks).subarray(0, size);
  };
}

/** Checks the intermediate values of one encryption against its `trace`. */
function assertTrace(trace: Trace, key: Buffer, salt12: Buffer, plaintext: Buffer): void {
  assert.equal(hex(Buffer.concat([key, salt12])), trace.otpSrc44);
  const otp = sha256(key, salt12);
  assert.equal(hex(otp), trace.otp32_sha256_of_otpSrc44);
  assert.equal(hex(tag8(key, salt12, plaintext)), trace.hmac8_sha256_of_otpSrc44_concat_plaintext_first8);
  const blocks = trace.keystream_blocks;
  const keystream = xotp(key, salt12, Buffer.alloc(32 * blocks.length));
  blocks.forEach((block, k) => {
    const index = Buffer.alloc(4);
    index.writeUInt32LE(block.index);
    assert.equal(hex(sha256(otp, index)), block.keystream32, `pad ${block.index}`);
    assert.equal(hex(keystream.subarray(32 * k, 32 * k + 32)), block.keystream32, `xotp block ${k}`);
  });
}

// ---- boho.json ----

describe('boho.json key_derivation', () => {
  it('sha256 check', () => {
    assert.equal(hex(sha256(Buffer.from(boho.sha256_check.input_utf8))), boho.sha256_check.sha256);
  });

  it('set_id8 → id8', () => {
    for (const row of boho.key_derivation.set_id8) assert.equal(hex(id8(row.id)), row.id8, row.id);
  });

  it('set_key → keyFromString', () => {
    for (const row of boho.key_derivation.set_key) assert.equal(hex(keyFromString(row.key)), row.key32, row.key);
  });

  it('set_id_key → splitIdKey at the first dot; no dot → null (reference leaves zeros)', () => {
    for (const row of boho.key_derivation.set_id_key) {
      const split = splitIdKey(row.input);
      if (split === null) {
        assert.equal(row.id8, '0000000000000000', row.input);
        assert.equal(row.key32, '00'.repeat(32), row.input);
        continue;
      }
      assert.equal(hex(id8(split.id)), row.id8, row.input);
      assert.equal(hex(keyFromString(split.key)), row.key32, row.input);
    }
    assert.deepEqual(splitIdKey('dev.key.with.dots'), { id: 'dev', key: 'key.with.dots' });
  });
});

describe('boho.json handshake', () => {
  const h = boho.handshake;

  it('server_time_nonce: bytes and state', () => {
    const script: Script = { now: h.fixed.server_Date_now_ms, draws: drawsOf(h.fixed.server_random_calls_in_order) };
    const server = scriptedSession(script);
    const msg = server.serverTimeNonce();
    assert.equal(hex(msg), h.server_time_nonce.hex);
    assert.equal(hex(msg.subarray(1, 13)), h.server_time_nonce.server_state_after.auth_salt12);
    assert.equal(hex(server.localNonce), h.server_time_nonce.server_state_after.localNonce);
    assert.equal(script.draws.length, 0, 'nonce (4) then filler (2) drawn');
    assert.equal(server.authorized, false);
  });

  it('client_auth_req: bytes, hash input and client state', () => {
    const script: Script = { now: 0, draws: drawsOf(h.client_auth_req.client_random_calls_in_order) };
    const client = scriptedSession(script);
    const authReq = client.authReq(h.client_auth_req.client_id, h.client_auth_req.client_key, unhex(h.server_time_nonce.hex));
    assert.ok(authReq);
    assert.equal(hex(authReq), h.client_auth_req.hex);
    assert.equal(hex(sha256(unhex(h.client_auth_req.hmac32_input_hex))), h.client_auth_req.fields.hmac32);
    assertState(client, h.client_auth_req.client_state_after);
  });

  it('server_verify_auth_req: parse, check (no state change), accept, AUTH_RES', () => {
    const script: Script = { now: h.fixed.server_Date_now_ms, draws: drawsOf(h.fixed.server_random_calls_in_order) };
    const server = scriptedSession(script);
    server.serverTimeNonce();
    const request = parseAuthReq(unhex(h.client_auth_req.hex));
    assert.ok(request);
    assert.equal(request.id, 'id1');
    assert.equal(hex(request.id8), h.client_auth_req.fields.id8);
    assert.equal(hex(request.clientNonce), h.client_auth_req.fields.clientNonce);
    assert.equal(hex(request.hmac), h.client_auth_req.fields.hmac32);

    const key = keyFromStored(h.server_verify_auth_req.stored_key_base64);
    assert.equal(server.checkAuthReq(request, key), true);
    assert.equal(server.authorized, false, 'checking commits nothing (Q19)');
    assert.equal(hex(server.remoteNonce), '00000000');

    server.accept(key, request.clientNonce);
    const authRes = server.authRes();
    assert.equal(hex(authRes), h.server_verify_auth_req.auth_res_hex);
    assert.equal(hex(sha256(unhex(h.server_verify_auth_req.hmac32_input_hex))), h.server_verify_auth_req.auth_res_hex.slice(2));
    assertState(server, h.server_verify_auth_req.server_state_after);
  });

  it('client_verify_auth_res', () => {
    const { client } = vectorPair();
    assert.equal(h.client_verify_auth_res.result, true);
    assertState(client, h.client_verify_auth_res.client_state_after);
  });

  it('wrong_key: the check fails and the server stays unauthorised', () => {
    const script: Script = { now: h.fixed.server_Date_now_ms, draws: drawsOf(h.fixed.server_random_calls_in_order) };
    const server = scriptedSession(script);
    server.serverTimeNonce();
    const request = parseAuthReq(unhex(h.client_auth_req.hex));
    assert.ok(request);
    assert.equal(server.checkAuthReq(request, keyFromString('not-key1')), h.wrong_key.verify_auth_req_result);
    assert.equal(server.authorized, h.wrong_key.server_isAuthorized_after);
  });
});

describe('boho.json encrypt_488', () => {
  for (const entry of boho.encrypt_488) {
    it(entry.label, () => {
      const { server, client, serverScript, clientScript } = vectorPair();
      const clientSends = entry.direction === 'client -> server';
      const [sender, receiver] = clientSends ? [client, server] : [server, client];
      (clientSends ? clientScript : serverScript).now = entry.Date_now_ms;
      sender.counter = entry.sender_counter_before;

      const plaintext = unhex(entry.plaintext_hex);
      const wire = sender.encrypt488(plaintext);
      assert.ok(wire);
      assert.equal(hex(wire), entry.ciphertext_hex);
      assert.equal(sender.counter, entry.counter_used);
      assert.equal(hex(wire.subarray(5, 13)), entry.ciphertext_fields.otpSrc8);
      assert.equal(hex(wire.subarray(13, 21)), entry.ciphertext_fields.hmac8);
      assert.equal(hex(sender.remoteNonce), entry.nonce_used, "the receiver's nonce");

      const salt12 = timeSalt(entry.Date_now_ms, entry.counter_used, unhex(entry.nonce_used));
      assertTrace(entry.trace, sender.key, salt12, plaintext);

      const opened = receiver.decrypt488(wire);
      assert.ok(opened);
      assert.equal(hex(opened), entry.receiver_decrypt_488_hex);
    });
  }
});

describe('boho.json decrypt_488_failures', () => {
  const [lastByteFlipped, hmacFlipped, emptyPayload, notAuthorized] = boho.decrypt_488_failures;

  it('tampered ciphertext or hmac8 → null', () => {
    const { server } = vectorPair();
    for (const failure of [lastByteFlipped, hmacFlipped]) assert.equal(server.decrypt488(unhex(failure.hex!)), null, failure.label);
  });

  it('empty payload: encrypt gives the bare 21-byte header; decrypting it gives null (the reference throws)', () => {
    const { server, client, clientScript } = vectorPair();
    clientScript.now = emptyPayload.Date_now_ms!;
    const wire = client.encrypt488(Buffer.alloc(0));
    assert.ok(wire);
    assert.equal(hex(wire), emptyPayload.hex);
    assert.equal(server.decrypt488(wire), null);
  });

  it(notAuthorized.label + ' → null, counter untouched', () => {
    const session = new BohoSession({ now: () => 0, random: seeded('unused') });
    assert.equal(session.encrypt488(unhex('d9')), null);
    assert.equal(session.sealE2E(unhex('d20373656302'), 6), null);
    assert.equal(session.counter, 0);
  });
});

describe('boho.json encryptPack and e2e', () => {
  const assertPackResult = (pack: Buffer, result: PackResult, data: Buffer | null): void => {
    assert.equal(pack.readUInt32LE(1), result.len);
    assert.equal(hex(pack.subarray(5, 17)), result.salt12.$hex);
    assert.equal(hex(pack.subarray(17, 25)), result.hmac.$hex);
    assert.ok(data);
    assert.equal(hex(data), result.data.$hex);
  };

  it('encryptPack (shares the ENC_488 counter)', () => {
    const vector = boho.encryptPack;
    const { client, clientScript } = vectorPair();
    client.counter = vector.counter_before;
    clientScript.now = vector.Date_now_ms;
    clientScript.draws.push(...drawsOf(vector.random_calls_in_order));
    const data = unhex(vector.plaintext_hex);
    const pack = client.encryptPack(data);
    assert.equal(hex(pack), vector.pack_hex);
    assert.equal(client.counter, vector.counter_used);
    assertTrace(vector.trace, keyFromString('key1'), pack.subarray(5, 17), data);
    assertPackResult(pack, vector.decryptPack_result, decryptPack(pack, keyFromString('key1')));
  });

  it('encrypt_e2e under H(e2eKey); the session key is kept', () => {
    const vector = boho.e2e;
    const { client, clientScript } = vectorPair();
    client.counter = vector.counter_before;
    clientScript.now = vector.Date_now_ms;
    clientScript.draws.push(...drawsOf(vector.random_calls_in_order));
    const pack = client.encryptE2E(unhex(vector.plaintext_hex), vector.e2e_key);
    assert.equal(hex(pack), vector.encrypt_e2e_hex);
    assert.equal(hex(keyFromString(vector.e2e_key)), vector.e2e_key32);
    assert.equal(hex(client.key), boho.handshake.client_auth_req.client_state_after.key32);
    assertPackResult(pack, vector.decrypt_e2e_result, decryptE2E(pack, vector.e2e_key));
    assert.equal(decryptE2E(pack, 'key1'), null, 'decrypt_with_wrong_key');
    assert.equal(decryptPack(pack, client.key), null);
  });
});

describe('boho.json signal_e2e_relay', () => {
  const relay = boho.signal_e2e_relay;
  const header = (): Buffer => unhex(relay.sender.wire_decoded.decrypted_header_hex);

  /** The receiver R2's own login with server session S2 (id3/key3). */
  function receiverPair() {
    const r = relay.receiver_session;
    const serverScript: Script = { now: r.server_Date_now_ms, draws: drawsFromNotes(r.server_random_calls) };
    const server = scriptedSession(serverScript);
    const receiver = scriptedSession({ now: 0, draws: drawsFromNotes(r.client_random_calls) });
    const idKey = splitIdKey(r.key);
    assert.ok(idKey);
    const wire = login(server, receiver, idKey.id, idKey.key);
    return { server, receiver, serverScript, wire };
  }

  it('receiver_session handshake', () => {
    const { wire } = receiverPair();
    assert.equal(hex(wire.serverTimeNonce), relay.receiver_session.server_time_nonce_hex);
    assert.equal(hex(wire.authReq), relay.receiver_session.auth_req_hex);
    assert.equal(hex(wire.authRes), relay.receiver_session.auth_res_hex);
  });

  function senderWire(): Buffer {
    const { client, clientScript } = vectorPair();
    client.counter = relay.sender.counter_before;
    clientScript.now = relay.sender.Date_now_ms;
    clientScript.draws.push(...drawsOf(relay.sender.random_calls_in_order));
    const pack = client.encryptE2E(Buffer.from('top secret'), 'e2e-key');
    assert.equal(client.counter, relay.sender.counter_before + 1, 'ENC_PACK first');
    const wire = client.sealE2E(Buffer.concat([header(), pack]), header().length);
    assert.ok(wire);
    assert.equal(client.counter, relay.sender.counter_before + 2, 'then the header');
    return wire;
  }

  it('sender: ENC_E2E wire bytes', () => {
    assert.equal(hex(senderWire()), relay.sender.wire_hex);
    assert.equal(relay.sender.wire_decoded.inner.tag, 'sec');
  });

  it('server_after_decrypt: header opened, ENC_PACK untouched', () => {
    const { server } = vectorPair();
    const inner = server.openE2E(unhex(relay.sender.wire_hex));
    assert.ok(inner);
    assert.equal(hex(inner), relay.server_after_decrypt.inner_hex);
    assert.equal(hex(inner), relay.sender.wire_decoded.inner_hex);
  });

  it('relay_to_authorized_receiver: header sealed with the receiver session', () => {
    const { server, receiver, serverScript } = receiverPair();
    serverScript.now = relay.relay_to_authorized_receiver.Date_now_ms;
    const wire = server.sealE2E(unhex(relay.server_after_decrypt.inner_hex), header().length);
    assert.ok(wire);
    assert.equal(hex(wire), relay.relay_to_authorized_receiver.hex);
    assert.equal(server.counter, relay.relay_to_authorized_receiver.server_counter_used);

    const inner = receiver.openE2E(wire);
    assert.ok(inner);
    assert.equal(hex(inner), relay.server_after_decrypt.inner_hex);
    const pack = inner.subarray(header().length);
    const expected = relay.relay_to_authorized_receiver.receiver_decrypt_e2e;
    assert.equal(hex(pack.subarray(5, 17)), expected.salt12.$hex);
    assert.equal(hex(decryptE2E(pack, 'e2e-key') ?? Buffer.alloc(0)), expected.data.$hex);
  });

  it('relay_to_anonymous_receiver: the plain SIGNAL_E2E', () => {
    assert.equal(relay.relay_to_anonymous_receiver.hex, relay.server_after_decrypt.inner_hex);
  });
});

// ---- docs/protocol.md §4.9 ----

describe('docs/protocol.md §4.9 worked example', () => {
  it('handshake, both ENC_488 directions and an E2E pack', () => {
    const serverScript: Script = { now: 1_700_000_000_123, draws: ['a1a2a3a4', '1122'] };
    const clientScript: Script = { now: 0, draws: ['c1c2c3c4'] };
    const server = scriptedSession(serverScript);
    const client = scriptedSession(clientScript);
    const K = keyFromString('secret-key');
    assert.equal(hex(id8('dev1')), '6465763100000000');
    assert.equal(hex(K), '85dbe15d75ef9308c7ae0f33c7a324cc6f4bf519a2ed2f3027bd33c140a4f9aa');
    assert.equal(storedKeyForm('secret-key'), 'hdvhXXXvkwjHrg8zx6MkzG9L9Rmi7S8wJ70zwUCk+ao=');

    const wire = login(server, client, 'dev1', 'secret-key');
    assert.equal(hex(wire.serverTimeNonce), 'b000f153657b001122a1a2a3a4');
    assert.equal(hex(wire.authReq), 'b16465763100000000c1c2c3c4' + '01df02884501cd76b41bf552de325a13baf317c09d4cfdbb4263f136b00641ef');
    assert.equal(hex(wire.authRes), 'b270ccc76aa42a875219b0264aadefe91966bc8ab3fc8df883e771b1f0b42f92b7');

    clientScript.now = 1_700_000_001_456;
    const subscribe = unhex('d3046e657773');
    const salt12 = timeSalt(clientScript.now, 1, unhex('a1a2a3a4'));
    assert.equal(hex(salt12), '01f15365c8010100a1a2a3a4');
    assert.equal(hex(sha256(K, salt12)), '6e44c4bc81f1c3ff8672fc7fc187a170e6f6b0cbec4003a4b0d2b7737fe8b323');
    assert.ok(hex(xotp(K, salt12, Buffer.alloc(32))).startsWith('4d02cec0d388a470'), 'pad 1');
    assert.equal(hex(tag8(K, salt12, subscribe)), '4eb7512876aa1e1e');
    const up = client.encrypt488(subscribe);
    assert.ok(up);
    assert.equal(hex(up), 'b80600000001f15365c80101004eb7512876aa1e1e9e06a0a5a4fb');
    assert.equal(hex(server.decrypt488(up) ?? Buffer.alloc(0)), 'd3046e657773');

    serverScript.now = 1_700_000_001_500;
    const down = server.encrypt488(unhex('c24431'));
    assert.ok(down);
    assert.equal(hex(down), 'b80300000001f15365f401010001f41dcb52e802cfe8d5df');
    assert.equal(hex(client.decrypt488(down) ?? Buffer.alloc(0)), 'c24431');

    clientScript.now = 1_700_000_002_000;
    clientScript.draws.push('e1e2e3e4');
    const pack = client.encryptE2E(Buffer.from('hi'), 'e2e-pass');
    assert.equal(hex(pack), 'b602000000' + '02f1536500000200e1e2e3e4' + 'ac15710133' + '92ebb5' + '730b');
    assert.equal(decryptE2E(pack, 'e2e-pass')?.toString(), 'hi');
  });
});

// ---- auth_keys.json ----

describe('auth_keys.json', () => {
  it('hashing: K and the 44-character stored form', () => {
    for (const row of authKeys.hashing) {
      assert.equal(hex(keyFromString(row.key)), row.sha256_hex, row.key);
      assert.equal(storedKeyForm(row.key), row.stored_base64, row.key);
      assert.equal(storedKeyForm(row.key).length, row.stored_length);
      assert.equal(hex(keyFromStored(row.stored_base64)), row.sha256_hex, 'stored form reads back as K');
    }
  });

  it('providers store base64(K) of the plain key', () => {
    const { StringKeyProvider, FileKeyProvider } = authKeys.providers;
    for (const entry of StringKeyProvider.input.split(',')) {
      const [id, key] = entry.split('.');
      assert.equal(storedKeyForm(key), StringKeyProvider.entries[id].key, entry);
    }
    for (const [id, key] of FileKeyProvider.input_json) assert.equal(storedKeyForm(key), FileKeyProvider.entries[id].key, id);
  });

  describe('server_key_selection', () => {
    for (const row of authKeys.server_key_selection) {
      it(`${JSON.stringify(row.stored)} (length ${row.stored.length}) → login ${row.login_succeeds ? 'succeeds' : 'fails'}`, () => {
        assert.equal(hex(keyFromStored(row.stored)), row.server_key32);
        assert.equal(hex(keyFromString(row.client_key)), row.client_key32);
        const server = new BohoSession({ now: () => 1_700_000_000_000, random: seeded('selection') });
        const client = new BohoSession({ now: () => 1_700_000_000_000, random: seeded('selection-client') });
        const authReq = client.authReq('id1', row.client_key, server.serverTimeNonce());
        const request = authReq && parseAuthReq(authReq);
        assert.ok(request);
        assert.equal(server.checkAuthReq(request, keyFromStored(row.stored)), row.login_succeeds);
      });
    }
  });

  it('id_matching: ids longer than 8 bytes arrive truncated', () => {
    for (const example of authKeys.id_matching.examples) {
      assert.equal(hex(id8(example.client_id)), example.id8);
      assert.equal(idFromId8(unhex(example.id8)), example.id_seen_by_server);
      const client = new BohoSession({ random: seeded('id') });
      const authReq = client.authReq(example.client_id, 'k', unhex(boho.handshake.server_time_nonce.hex));
      assert.equal(authReq && parseAuthReq(authReq)?.id, example.id_seen_by_server);
    }
    assert.equal(idFromId8(unhex('eab8b0eab8b03100')), '기기1');
    assert.equal(idFromId8(unhex('0000000000000000')), '');
  });
});

// ---- properties ----

describe('round trips between live sessions', () => {
  const sizes = [0, 1, 2, 31, 32, 33, 63, 64, 65, 100, 1000];

  it('ENC_488 both directions, every size; counters advance on each side', () => {
    const { server, client } = livePair();
    const next = seeded('round-trip');
    for (const size of sizes.filter((n) => n > 0)) {
      const message = next(size);
      const up = client.encrypt488(message);
      const down = server.encrypt488(message);
      assert.ok(up && down);
      assert.deepEqual(server.decrypt488(up), message, `up ${size}`);
      assert.deepEqual(client.decrypt488(down), message, `down ${size}`);
      assert.equal(client.decrypt488(up), null, 'a sender cannot open its own message (wrong nonce)');
      assert.deepEqual(server.decrypt488(Buffer.concat([up, next(7)])), message, 'bytes after 21+len ignored');
    }
    assert.equal(client.counter, sizes.length - 1);
    assert.equal(server.counter, sizes.length - 1);
  });

  it('ENC_E2E seal/open both directions, with any header length', () => {
    const { server, client } = livePair();
    const next = seeded('e2e-round-trip');
    for (const size of sizes.filter((n) => n > 0)) {
      const signal = next(size);
      for (const headerLen of new Set([1, Math.ceil(size / 2), size])) {
        const up = client.sealE2E(signal, headerLen);
        assert.ok(up);
        assert.deepEqual(up.subarray(21 + headerLen), signal.subarray(headerLen), 'rest untouched');
        assert.deepEqual(server.openE2E(up), signal);
        const down = server.sealE2E(signal, headerLen);
        assert.ok(down);
        assert.deepEqual(client.openE2E(down), signal);
      }
    }
    assert.equal(client.sealE2E(unhex('d2'), 0), null, 'empty header');
    assert.equal(client.sealE2E(unhex('d2'), 2), null, 'header longer than the message');
  });

  it('ENC_PACK with any key, e2e between two clients of different sessions', () => {
    const a = livePair('a', 'ka').client;
    const b = livePair('b', 'kb').client;
    for (const size of sizes) {
      const data = seeded('pack')(size);
      const pack = a.encryptE2E(data, 'shared');
      assert.deepEqual(decryptE2E(pack, 'shared'), data);
      assert.equal(decryptE2E(pack, 'other'), null);
      const own = b.encryptPack(data);
      assert.deepEqual(decryptPack(own, b.key), data);
      assert.equal(decryptPack(own, a.key), null);
      assert.equal(decryptPack(Buffer.concat([own, unhex('00')]), b.key), null, 'len must equal total − 25');
    }
  });

  it('one counter for ENC_488, ENC_E2E and ENC_PACK; 65535 wraps to 0', () => {
    const { client } = livePair();
    const counterOf = (wire: Buffer | null): number => (wire ? wire.readUInt16LE(11) : -1);
    assert.equal(counterOf(client.encrypt488(unhex('d9'))), 1);
    assert.equal(client.encryptPack(unhex('01')).readUInt16LE(11), 2);
    assert.equal(counterOf(client.sealE2E(unhex('d20373656302'), 6)), 3);
    assert.equal(client.encryptE2E(unhex('01'), 'p').readUInt16LE(11), 4);
    client.counter = 0xfffe;
    assert.equal(counterOf(client.encrypt488(unhex('d9'))), 0xffff);
    assert.equal(counterOf(client.encrypt488(unhex('d9'))), 0);
    assert.throws(() => (client.counter = 0x10000), RangeError);
  });
});

describe('guards', () => {
  it('checkAuthReq needs a SERVER_TIME_NONCE first; verifyAuthRes needs an AUTH_REQ first', () => {
    const request = parseAuthReq(unhex(boho.handshake.client_auth_req.hex));
    assert.ok(request);
    assert.equal(new BohoSession().checkAuthReq(request, keyFromString('key1')), false);
    assert.equal(new BohoSession().verifyAuthRes(unhex(boho.handshake.server_verify_auth_req.auth_res_hex)), false);
  });

  it('AUTH_REQ: shorter than 45 → null, extra bytes ignored, wrong type → null', () => {
    const authReq = unhex(boho.handshake.client_auth_req.hex);
    assert.equal(parseAuthReq(authReq.subarray(0, 44)), null);
    assert.equal(parseAuthReq(Buffer.concat([authReq, unhex('ffff')]))?.id, 'id1');
    assert.equal(parseAuthReq(Buffer.concat([unhex('b2'), authReq.subarray(1)])), null);
  });

  it('AUTH_RES must be exactly 33 bytes', () => {
    const h = boho.handshake;
    const fresh = (): BohoSession => {
      const client = scriptedSession({ now: 0, draws: drawsOf(h.client_auth_req.client_random_calls_in_order) });
      client.authReq(h.client_auth_req.client_id, h.client_auth_req.client_key, unhex(h.server_time_nonce.hex));
      return client;
    };
    const authRes = unhex(h.server_verify_auth_req.auth_res_hex);
    assert.equal(fresh().verifyAuthRes(Buffer.concat([authRes, unhex('00')])), false);
    assert.equal(fresh().verifyAuthRes(authRes.subarray(0, 32)), false);
    const client = fresh();
    assert.equal(client.verifyAuthRes(authRes), true);
    assert.equal(client.verifyAuthRes(authRes), false, 'an AUTH_RES is accepted once');
  });

  it('an unauthorised session decrypts nothing (Q20)', () => {
    const { client } = vectorPair();
    const fresh = new BohoSession();
    const wire = client.encrypt488(unhex('d9'));
    assert.ok(wire);
    assert.equal(fresh.decrypt488(wire), null);
    const { server } = vectorPair();
    server.clearAuthorization();
    assert.equal(server.decrypt488(wire), null);
    assert.equal(server.encrypt488(unhex('d9')), null);
  });

  it('keys must be 32 bytes', () => {
    assert.throws(() => decryptPack(unhex('b6'), Buffer.alloc(31)), RangeError);
    assert.throws(() => new BohoSession().accept(Buffer.alloc(33), Buffer.alloc(4)), RangeError);
    assert.throws(() => new BohoSession({ random: seeded('k') }).encryptPack(unhex('00'), Buffer.alloc(16)), RangeError);
  });

  it('keyFromStored: 44 characters are always read as base64 (Q14), short decodes are zero-padded', () => {
    assert.equal(hex(keyFromStored('!'.repeat(44))), '00'.repeat(32));
    assert.equal(hex(keyFromStored('a'.repeat(43))), hex(keyFromString('a'.repeat(43))));
  });
});

describe('malformed input never throws', () => {
  const { server, client } = livePair();
  const valid = client.encrypt488(seeded('valid')(40));
  // Header only: the session hmac does not cover an ENC_E2E's rest (see the next describe).
  const validE2E = client.sealE2E(seeded('valid-e2e')(40), 40);
  const validPack = client.encryptE2E(seeded('valid-pack')(40), 'p');
  assert.ok(valid && validE2E);

  /** Every decoder on one input: crypto openers must say null (forging is out of reach). */
  function feed(input: Buffer): void {
    assert.equal(server.decrypt488(input), null, hex(input));
    assert.equal(server.openE2E(input), null, hex(input));
    assert.equal(decryptPack(input, client.key), null, hex(input));
    assert.equal(decryptE2E(input, 'p'), null, hex(input));
    const request = parseAuthReq(input);
    if (request) assert.equal(server.checkAuthReq(request, client.key), false);
    assert.equal(new BohoSession().verifyAuthRes(input), false);
    const reply = new BohoSession({ random: seeded('reply') }).authReq('x', 'y', input);
    assert.equal(reply === null, input.length < 13 || input[0] !== 0xb0);
  }

  it('random bytes with every Boho type byte', () => {
    const next = seeded('fuzz');
    for (let round = 0; round < 300; round++) {
      const input = next(round % 90);
      if (input.length > 0) input[0] = [0xb0, 0xb1, 0xb2, 0xb6, 0xb7, 0xb8, input[0]][round % 7];
      feed(input);
    }
  });

  it('every truncation and every single-bit flip of valid messages', () => {
    for (const message of [valid, validE2E, validPack]) {
      for (let cut = 0; cut < message.length; cut++) feed(message.subarray(0, cut));
      for (let bit = 0; bit < message.length * 8; bit++) {
        const flipped = Buffer.from(message);
        flipped[bit >> 3] ^= 1 << (bit & 7);
        feed(flipped);
      }
    }
  });

  it('len larger than the message', () => {
    for (const message of [valid, validE2E, validPack]) {
      for (const len of [message.readUInt32LE(1) + 1, 0x7fffffff, 0xffffffff]) {
        const forged = Buffer.from(message);
        forged.writeUInt32LE(len, 1);
        feed(forged);
      }
    }
  });
});

describe('ENC_E2E rest', () => {
  it('is not covered by the session hmac: the ENC_PACK inside protects itself', () => {
    const { server, client } = livePair();
    const pack = client.encryptE2E(Buffer.from('top secret'), 'e2e-key');
    const header = unhex('d20373656302');
    const wire = client.sealE2E(Buffer.concat([header, pack]), header.length);
    assert.ok(wire);
    const tampered = Buffer.from(wire);
    tampered[tampered.length - 1] ^= 0x01;
    const inner = server.openE2E(tampered);
    assert.ok(inner, 'the header still opens');
    assert.deepEqual(inner.subarray(0, header.length), header);
    assert.equal(decryptE2E(inner.subarray(header.length), 'e2e-key'), null, 'the pack does not');
  });
});
