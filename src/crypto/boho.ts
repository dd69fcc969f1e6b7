// One side of a Boho session (docs/protocol.md §4.3–4.6): handshake, ENC_488, ENC_PACK and the ENC_E2E relay.
// Pure: the clock and the random source are injected, so every byte can be reproduced in tests.
import { randomBytes } from 'node:crypto';
import { MSG } from '../protocol/codes.js';
import { encodeServerTimeNonce } from '../protocol/messages.js';
import { openPack, openSession, sealPack, sealSession } from './frames.js';
import { id8, idFromId8, keyFromString } from './keys.js';
import { KEY_SIZE, NONCE_SIZE, SALT_SIZE, sameBytes, sha256, timeSalt } from './otp.js';
import type { OpenJob, SealJob } from './seal-jobs.js';

export { id8, idFromId8, keyFromStored, keyFromString, splitIdKey, storedKeyForm } from './keys.js';
export type { IdKey } from './keys.js';

const SERVER_TIME_NONCE_SIZE = 13;
const AUTH_REQ_SIZE = 45;
const AUTH_RES_SIZE = 33;

export interface BohoSessionOptions {
  /** Wall clock in ms (default Date.now); only used to fill salts, never checked. */
  now?: () => number;
  /** `size` random bytes (default crypto.randomBytes). */
  random?: (size: number) => Uint8Array;
}

/** The fields of an AUTH_REQ. */
export interface AuthRequest {
  /** The id the server looks up: id8 up to the first 0x00, as UTF-8. */
  id: string;
  id8: Buffer;
  clientNonce: Buffer;
  hmac: Buffer;
}

/** Reads an AUTH_REQ; null when the type is wrong or it is shorter than 45 bytes (extra bytes are ignored). */
export function parseAuthReq(msg: Uint8Array): AuthRequest | null {
  if (msg.length < AUTH_REQ_SIZE || msg[0] !== MSG.AUTH_REQ) return null;
  const bytes = Buffer.from(msg.subarray(0, AUTH_REQ_SIZE));
  const idBytes = bytes.subarray(1, 9);
  return { id: idFromId8(idBytes), id8: idBytes, clientNonce: bytes.subarray(9, 13), hmac: bytes.subarray(13, 45) };
}

/** Opens an ENC_PACK made under `key` (32 bytes); null if it is malformed or the key is wrong. */
export function decryptPack(pack: Uint8Array, key: Uint8Array): Buffer | null {
  return openPack(checkedKey(key), pack);
}

/** Opens an ENC_PACK made with encryptE2E(…, passphrase). */
export function decryptE2E(pack: Uint8Array, passphrase: string): Buffer | null {
  return openPack(keyFromString(passphrase), pack);
}

function checkedKey(key: Uint8Array): Uint8Array {
  if (key.length !== KEY_SIZE) throw new RangeError(`Boho key must be ${KEY_SIZE} bytes, got ${key.length}`);
  return key;
}

/** AUTH_RES proof: H(K ‖ sN ‖ cN ‖ sN ‖ cN). */
function authProof(key: Uint8Array, serverNonce: Uint8Array, clientNonce: Uint8Array): Buffer {
  return sha256(key, serverNonce, clientNonce, serverNonce, clientNonce);
}

export class BohoSession {
  readonly #now: () => number;
  readonly #random: (size: number) => Uint8Array;
  #key: Buffer = Buffer.alloc(KEY_SIZE);
  #localNonce: Buffer = Buffer.alloc(NONCE_SIZE);
  #remoteNonce: Buffer = Buffer.alloc(NONCE_SIZE);
  #counter = 0;
  #authorized = false;
  /** Server: bytes 1..12 of the SERVER_TIME_NONCE sent; null until one is made. */
  #authSalt: Buffer | null = null;
  /** Client: an AUTH_REQ was sent, so an AUTH_RES can be checked. */
  #awaitingAuthRes = false;

  constructor(options: BohoSessionOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? randomBytes;
  }

  get key(): Buffer {
    return Buffer.from(this.#key);
  }
  get localNonce(): Buffer {
    return Buffer.from(this.#localNonce);
  }
  get remoteNonce(): Buffer {
    return Buffer.from(this.#remoteNonce);
  }
  get authorized(): boolean {
    return this.#authorized;
  }
  /** u16 message counter, shared by ENC_488, ENC_E2E and ENC_PACK; incremented before each use. */
  get counter(): number {
    return this.#counter;
  }
  set counter(value: number) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`counter must be a u16, got ${value}`);
    this.#counter = value;
  }

  // ---- handshake, server side ----

  /** SERVER_TIME_NONCE (13 bytes). Draws the 4-byte nonce, then 2 random bytes; keeps authSalt and localNonce. */
  serverTimeNonce(): Buffer {
    const nonce = this.#draw(NONCE_SIZE);
    const filler = this.#draw(2);
    const msg = encodeServerTimeNonce(this.#now(), filler, nonce);
    this.#localNonce = nonce;
    this.#authSalt = Buffer.from(msg.subarray(1, 1 + SALT_SIZE));
    return msg;
  }

  /**
   * Server: takes over a SERVER_TIME_NONCE that was sent before this session existed (the broker makes
   * sessions only when a login arrives, to keep idle connections small).
   */
  adoptServerTimeNonce(msg: Uint8Array): boolean {
    if (msg.length < SERVER_TIME_NONCE_SIZE || msg[0] !== MSG.SERVER_TIME_NONCE) return false;
    this.#localNonce = Buffer.from(msg.subarray(9, 9 + NONCE_SIZE));
    this.#authSalt = Buffer.from(msg.subarray(1, 1 + SALT_SIZE));
    return true;
  }

  /** Does H(K ‖ authSalt ‖ cN) match the request's hmac? Changes nothing (Q19: commit later with accept). */
  checkAuthReq(request: AuthRequest, key: Uint8Array): boolean {
    if (!this.#authSalt) return false;
    const expected = sha256(checkedKey(key), this.#authSalt, request.clientNonce);
    return sameBytes(expected, request.hmac);
  }

  /** Commits a login that passed every check: K, remoteNonce = cN, authorized. */
  accept(key: Uint8Array, clientNonce: Uint8Array): void {
    this.#key = Buffer.from(checkedKey(key));
    this.#remoteNonce = Buffer.from(clientNonce.subarray(0, NONCE_SIZE));
    this.#authorized = true;
  }

  /** AUTH_RES (33 bytes) for the accepted login. */
  authRes(): Buffer {
    return Buffer.concat([Buffer.from([MSG.AUTH_RES]), authProof(this.#key, this.#localNonce, this.#remoteNonce)]);
  }

  /** Back to "not authorised" (AUTH_CLEAR); K and the nonces stay until the next login. */
  clearAuthorization(): void {
    this.#authorized = false;
  }

  // ---- handshake, client side ----

  /** AUTH_REQ (45 bytes) answering a SERVER_TIME_NONCE; null if that message is malformed. Draws the 4-byte cN. */
  authReq(id: string, key: string, serverTimeNonceMsg: Uint8Array): Buffer | null {
    if (serverTimeNonceMsg.length < SERVER_TIME_NONCE_SIZE || serverTimeNonceMsg[0] !== MSG.SERVER_TIME_NONCE) return null;
    const salt12 = serverTimeNonceMsg.subarray(1, 1 + SALT_SIZE);
    this.#key = keyFromString(key);
    this.#remoteNonce = Buffer.from(serverTimeNonceMsg.subarray(9, 9 + NONCE_SIZE));
    this.#localNonce = this.#draw(NONCE_SIZE);
    this.#authorized = false;
    this.#awaitingAuthRes = true;
    const hmac = sha256(this.#key, salt12, this.#localNonce);
    return Buffer.concat([Buffer.from([MSG.AUTH_REQ]), id8(id), this.#localNonce, hmac]);
  }

  /** Checks an AUTH_RES (exactly 33 bytes); on a match the session is authorised. */
  verifyAuthRes(msg: Uint8Array): boolean {
    if (!this.#awaitingAuthRes || msg.length !== AUTH_RES_SIZE || msg[0] !== MSG.AUTH_RES) return false;
    if (!sameBytes(authProof(this.#key, this.#remoteNonce, this.#localNonce), msg.subarray(1))) return false;
    this.#awaitingAuthRes = false;
    this.#authorized = true;
    return true;
  }

  // ---- session encryption ----

  /**
   * ENC_488 of a whole message, under the receiver's nonce; null unless authorised.
   * An empty plaintext gives a bare 21-byte header that every receiver drops.
   */
  encrypt488(plaintext: Uint8Array): Buffer | null {
    const job = this.sealJob(plaintext);
    return job ? sealSession(job.type, job.key, job.salt12, job.secret) : null;
  }

  /**
   * What encrypt488 would seal, for sealing elsewhere (the seal pool): takes the counter now, so messages keep
   * their order of counters whatever order they are sealed in. Null unless authorised.
   */
  sealJob(plaintext: Uint8Array): SealJob | null {
    if (!this.#authorized) return null;
    return { type: MSG.ENC_488, key: this.#key, salt12: this.#clockSalt(this.#remoteNonce), secret: plaintext };
  }

  /** What decrypt488 would open, for opening elsewhere; null if not authorised (Q20). */
  openJob(msg: Uint8Array): OpenJob | null {
    if (!this.#authorized) return null;
    return { type: MSG.ENC_488, key: this.#key, localNonce: this.#localNonce, msg };
  }

  /** The plaintext of an ENC_488 (bytes after 21+len ignored); null if malformed, forged or not authorised (Q20). */
  decrypt488(msg: Uint8Array): Buffer | null {
    if (!this.#authorized) return null;
    const opened = openSession(MSG.ENC_488, this.#key, this.#localNonce, msg);
    return opened ? opened.secret : null;
  }

  /** ENC_E2E from a plaintext SIGNAL_E2E: only the first `headerLen` bytes are encrypted; null unless authorised. */
  sealE2E(signalE2E: Uint8Array, headerLen: number): Buffer | null {
    if (!this.#authorized || !Number.isInteger(headerLen) || headerLen < 1 || headerLen > signalE2E.length) return null;
    const salt12 = this.#clockSalt(this.#remoteNonce);
    return sealSession(MSG.ENC_E2E, this.#key, salt12, signalE2E.subarray(0, headerLen), signalE2E.subarray(headerLen));
  }

  /** The plaintext SIGNAL_E2E (`header ‖ untouched rest`) of an ENC_E2E; null like decrypt488. */
  openE2E(msg: Uint8Array): Buffer | null {
    if (!this.#authorized) return null;
    const opened = openSession(MSG.ENC_E2E, this.#key, this.#localNonce, msg);
    return opened ? Buffer.concat([opened.secret, msg.subarray(opened.restOffset)]) : null;
  }

  /** ENC_PACK under K (or `keyOverride`, 32 bytes) with the random salt. Draws 4 bytes. */
  encryptPack(data: Uint8Array, keyOverride?: Uint8Array): Buffer {
    const key = keyOverride ? checkedKey(keyOverride) : this.#key;
    const salt12 = this.#clockSalt(this.#draw(NONCE_SIZE));
    return sealPack(key, salt12, data);
  }

  /** ENC_PACK under H(passphrase) for end-to-end data; the session key is not touched. */
  encryptE2E(data: Uint8Array, passphrase: string): Buffer {
    return this.encryptPack(data, keyFromString(passphrase));
  }

  /** Increments the counter (u16, wraps to 0) and builds the salt with it. */
  #clockSalt(tail4: Uint8Array): Buffer {
    this.#counter = (this.#counter + 1) & 0xffff;
    return timeSalt(this.#now(), this.#counter, tail4);
  }

  /** A private copy of `size` random bytes (the source may reuse its buffer). */
  #draw(size: number): Buffer {
    const bytes = this.#random(size);
    if (bytes.length < size) throw new RangeError(`random(${size}) returned ${bytes.length} bytes`);
    return Buffer.from(bytes.subarray(0, size));
  }
}
