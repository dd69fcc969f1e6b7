// One connection's protocol handler (docs/protocol.md §2, §3, §4.4–4.7, §7.2): handshake and login, the encryption
// rule, quota, keepalive, the requests waiting for an answer, and what each server message does. A new session
// starts with every transport; the public IoClient only drives sessions and never exposes them.
import { decodeSignalAt, SIGNAL_AT } from '../history/signal-at.js';
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BohoSession } from '../crypto/boho.js';
import { DEFAULT_LEVEL, MSG, QUOTA_TABLE, type Quota } from '../protocol/codes.js';
import { CID_REQ_MSG, PING_MSG, PONG_MSG } from '../protocol/messages.js';
import { unpack } from '../protocol/mbp.js';
import { FailedCall, NotConnectedError } from './errors.js';
import type { CallResult, ClientEvents, ClientState, IamInfo, SignalMessage } from './events.js';
import { readCallResponse, readIamRes, readServerSignal } from './inbound.js';
import type { Credentials } from './options.js';
import { PendingCalls, ReplyQueue } from './replies.js';
import { toSignalMessage } from './signal-message.js';
import type { Transport } from './transport.js';
import { redirectTarget } from './url.js';

/** @internal What a session asks of the client that owns it. */
export interface SessionHost {
  emit: EventEmitter<ClientEvents>['emit'];
  setState(state: ClientState): void;
  /** The credentials to log in with at the handshake, if any. */
  credentials(): Credentials | undefined;
  /** Would an eligible message be encrypted now, given whether this session is logged in (§4.7)? */
  encrypting(authorized: boolean): boolean;
  /** CID_RES arrived: resubscribe and announce ready. */
  ready(cid: string): void;
  /** AUTH_CLEAR (§3.5): forget the credentials and stop. */
  cleared(reason: string): void;
  /** SERVER_REDIRECT (§3.6). */
  redirect(url: string): void;
  /** IAM_RES (§3.8). */
  learned(info: IamInfo): void;
  /** A received SIGNAL / SIGNAL_E2E. */
  signal(message: SignalMessage): void;
  /** A received SIGNAL_AT: a signal with its place in the channel's history (positioned subscriptions). */
  positioned(message: SignalMessage, epoch: string, offset: number): void;
}

/** @internal */
export interface SessionTiming {
  keepaliveIdleMs: number;
  keepaliveCheckMs: number;
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** @internal */
export class ClientSession {
  readonly boho = new BohoSession();
  /** The SERVER_TIME_NONCE of this connection, kept for a manual login (§3.2). */
  nonce: Buffer | null = null;
  cid = '';
  level = DEFAULT_LEVEL;
  quota: Quota = QUOTA_TABLE[DEFAULT_LEVEL]!;
  readonly calls = new PendingCalls<CallResult>();
  readonly echoes = new ReplyQueue<string>();
  readonly iams = new ReplyQueue<IamInfo>();
  readonly pongs = new ReplyQueue<number>();
  #handshakeStarted = false;
  #ended = false;
  #lastTraffic = Date.now();
  #keepalive: NodeJS.Timeout;

  constructor(
    private readonly transport: Transport,
    private readonly host: SessionHost,
    timing: SessionTiming,
  ) {
    // §1.3: the JS clients check every 3 s and ping after 40 s of silence.
    this.#keepalive = setInterval(() => {
      if (Date.now() - this.#lastTraffic > timing.keepaliveIdleMs) this.sendPlain(PING_MSG);
    }, timing.keepaliveCheckMs);
    this.#keepalive.unref();
  }

  get authorized(): boolean {
    return !this.#ended && this.boho.authorized;
  }

  get encrypting(): boolean {
    return this.host.encrypting(this.authorized);
  }

  /** The transport closed: stop the keepalive and fail every request still waiting. */
  end(): void {
    this.#ended = true;
    this.cid = '';
    clearInterval(this.#keepalive);
    this.calls.rejectAll(new NotConnectedError('call'));
    this.echoes.rejectAll('echo');
    this.iams.rejectAll('iam');
    this.pongs.rejectAll('ping');
  }

  // ---- sending ---------------------------------------------------------------------------------------

  /** Sends as is (no encryption); false when closed or over the quota. */
  sendPlain(message: Uint8Array): boolean {
    if (this.#ended) return false;
    if (message.length > this.quota.signalSize) {
      // §3.4: the client enforces its own signalSize on what it sends.
      this.host.emit('over_size', { local: true, size: message.length, limit: this.quota.signalSize });
      return false;
    }
    this.transport.send(message);
    this.#lastTraffic = Date.now();
    return true;
  }

  /** Sends an eligible message through the encryption rule (§4.7). */
  sendEligible(message: Uint8Array): boolean {
    if (!this.encrypting) return this.sendPlain(message);
    if (!this.authorized) {
      this.host.emit('warning', 'ENC_MODE is yes but the client is not logged in; nothing was sent');
      return false;
    }
    const sealed = message[0] === MSG.SIGNAL_E2E ? this.boho.sealE2E(message, 3 + message[1]!) : this.boho.encrypt488(message);
    return sealed ? this.sendPlain(sealed) : false;
  }

  /** AUTH_REQ with the nonce of this connection; false when there is none or it could not be sent. */
  login(credentials: Credentials): boolean {
    const request = this.nonce ? this.boho.authReq(credentials.id, credentials.key, this.nonce) : null;
    if (!request) return false;
    this.host.setState('auth_req');
    return this.sendPlain(request);
  }

  // ---- receiving -------------------------------------------------------------------------------------

  /** A WebSocket pong frame or a PONG message. */
  pong(): void {
    this.#lastTraffic = Date.now();
    this.pongs.deliver(performance.now());
    this.host.emit('pong');
  }

  /** One whole message from the server. */
  receive(data: Buffer): void {
    this.#lastTraffic = Date.now();
    if (data.length === 0) return;
    const message = this.#unwrap(data);
    if (!message || message.length === 0) {
      this.host.emit('warning', `dropped an encrypted message (0x${data[0]!.toString(16)}) that did not decrypt`);
      return;
    }
    this.#dispatch(message);
  }

  /** Opens ENC_488 / ENC_E2E; every receiver accepts plain and encrypted forms at any time (§4.7). */
  #unwrap(data: Buffer): Buffer | null {
    if (data[0] === MSG.ENC_488) return this.boho.decrypt488(data);
    if (data[0] === MSG.ENC_E2E) return this.boho.openE2E(data);
    return data;
  }

  #dispatch(message: Buffer): void {
    const host = this.host;
    switch (message[0]) {
      case MSG.SERVER_TIME_NONCE:
        this.nonce = Buffer.from(message);
        return this.#startHandshake();
      case MSG.SERVER_READY:
        // Informational after SERVER_TIME_NONCE (§3.2); servers that send no nonce start with it.
        if (!this.#handshakeStarted) this.#startHandshake();
        return;
      case MSG.AUTH_RES:
        return this.#onAuthRes(message);
      case MSG.AUTH_FAIL:
        host.setState('auth_fail');
        host.emit('auth_fail', 'the server refused the login');
        return;
      case MSG.QUOTA_LEVEL:
        if (message.length >= 2) this.#setLevel(message[1]!);
        return;
      case MSG.AUTH_CLEAR:
        return host.cleared(text(message.subarray(1)));
      case MSG.SERVER_REDIRECT:
        return host.redirect(redirectTarget(message));
      case MSG.CID_RES:
        this.cid = text(message.subarray(1));
        return host.ready(this.cid);
      case MSG.ECHO: {
        const echoed = text(message.subarray(1));
        this.echoes.deliver(echoed);
        host.emit('echo', echoed);
        return;
      }
      case MSG.PING:
        this.sendPlain(PONG_MSG);
        host.emit('ping');
        return;
      case MSG.PONG:
        return this.pong();
      case MSG.IAM_RES:
        return this.#onIamRes(message);
      case MSG.SIGNAL:
      case MSG.SIGNAL_E2E: {
        const signal = toSignalMessage(message);
        if (signal) host.signal(signal);
        else host.emit('warning', 'dropped a malformed signal');
        return;
      }
      case SIGNAL_AT: {
        const at = decodeSignalAt(message);
        const signal = at ? toSignalMessage(at.signal) : null;
        if (at && signal) host.positioned(signal, at.epoch, at.offset);
        else host.emit('warning', 'dropped a malformed positioned signal');
        return;
      }
      case MSG.RESPONSE_MBP:
        return this.#onResponse(message);
      case MSG.SERVER_SIGNAL: {
        const event = readServerSignal(message);
        if (event) host.emit('server_signal', event.event, event.data);
        return;
      }
      case MSG.SET: {
        const fields = unpack(message);
        if (fields && typeof fields.topic === 'string') host.emit('set', fields.topic, fields.args ?? []);
        return;
      }
      case MSG.OVER_SIZE:
        host.emit('over_size', { local: false });
        return;
      default:
        host.emit('unknown', Buffer.from(message));
    }
  }

  /** SERVER_TIME_NONCE, or SERVER_READY from a server that sends no nonce: log in or ask for a CID. */
  #startHandshake(): void {
    this.#handshakeStarted = true;
    this.host.setState('server_ready');
    this.host.emit('server_ready');
    const credentials = this.host.credentials();
    if (credentials && this.nonce) {
      this.login(credentials);
      return;
    }
    if (credentials) this.host.emit('warning', 'the server sent no SERVER_TIME_NONCE, so it cannot log in; continuing anonymously');
    this.sendPlain(CID_REQ_MSG);
  }

  #onAuthRes(message: Buffer): void {
    if (!this.boho.verifyAuthRes(message)) {
      this.host.setState('auth_fail');
      this.host.emit('auth_fail', 'the server answered with an AUTH_RES that does not verify (wrong key?)');
      return;
    }
    this.host.setState('auth_res');
    this.host.emit('auth_res');
    this.sendPlain(CID_REQ_MSG);
  }

  /** QUOTA_LEVEL (§3.4); an unknown level keeps the current quota. */
  #setLevel(level: number): void {
    const quota = QUOTA_TABLE[level];
    if (!quota) {
      this.host.emit('warning', `the server sent an unknown quota level ${level}; keeping level ${this.level}`);
      return;
    }
    this.level = level;
    this.quota = quota;
    this.host.emit('quota', level, quota);
  }

  #onIamRes(message: Buffer): void {
    const info = readIamRes(message);
    if (info === 'not-json') {
      this.host.emit('warning', 'dropped an IAM_RES that is not JSON');
      return;
    }
    if (!info) return;
    this.host.learned(info);
    this.iams.deliver(info);
    this.host.emit('iam', info);
  }

  #onResponse(message: Buffer): void {
    const response = readCallResponse(message);
    if (!response) return;
    this.host.emit('response', { ...response.result, ok: response.ok });
    this.calls.settle(response.result.mid, response.ok ? { value: response.result } : { error: new FailedCall(response.result) });
  }
}
