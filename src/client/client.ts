// The iosignal client (PROTOCOL.md §3, §4, §5, §7): one server, either transport, with login,
// encryption, subscriptions that survive reconnects, RPC calls and typed events.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BohoSession, decryptE2E } from '../crypto/boho.js';
import { DEFAULT_LEVEL, MSG, PAYLOAD, QUOTA_TABLE, type Quota } from '../protocol/codes.js';
import { CID_REQ_MSG, PING_MSG, PONG_MSG, UNSUBSCRIBE_ALL_MSG, encodeSignal, encodeTagMessage } from '../protocol/messages.js';
import { buildSignal } from '../protocol/payload.js';
import { encodeCall } from '../protocol/rpc.js';
import { handleInbound } from './inbound.js';
import { CallError, FailedCall, NotConnectedError, ReplyTimeoutError } from './errors.js';
import type { CallResult, ClientEvents, ClientState, EncMode, IamInfo, SignalMessage } from './events.js';
import { reconnectDelay, resolveClientOptions, toCredentials, type Credentials, type IoClientOptions, type ResolvedClientOptions } from './options.js';
import { PendingCalls, ReplyQueue } from './replies.js';
import { openTransport, type Transport } from './transport.js';
import { parseServerUrl, type ServerAddress } from './url.js';

/** A SUBSCRIBE carries at most 255 bytes of tags (§5.5). */
const TAG_LIST_LIMIT = 255;

export interface CallOptions {
  target: string;
  topic: string;
  args?: unknown[];
  /** Overrides the client's callTimeoutMs. */
  timeoutMs?: number;
}

export class IoClient extends EventEmitter<ClientEvents> {
  readonly options: ResolvedClientOptions;
  /** The address given by the user; reconnects go here even after a redirect (§3.6). */
  #home: ServerAddress;
  #address: ServerAddress;
  #transport: Transport | null = null;
  #state: ClientState = 'closed';
  #stopped = false;
  #redirectTo: ServerAddress | null = null;
  #reconnectAttempt = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #keepaliveTimer: NodeJS.Timeout | null = null;
  #lastTraffic = 0;
  #credentials: Credentials | undefined;
  #encMode: EncMode;
  #listeners = new Map<string, Set<(message: SignalMessage) => void>>();

  // Per-connection state, reset on every open.
  /** @internal */ boho = new BohoSession();
  /** @internal The SERVER_TIME_NONCE of this connection, kept for a manual login (§3.2). */
  nonceMessage: Buffer | null = null;
  /** @internal */ handshakeStarted = false;
  #cid = '';
  #level = DEFAULT_LEVEL;
  #quota: Quota = QUOTA_TABLE[DEFAULT_LEVEL]!;
  /** Learned from IAM_RES. */
  ip = '';
  nick = '';
  did = '';
  uid = '';

  /** Channels subscribed again on every ready, in subscription order. */
  readonly #channels = new Set<string>();
  /** @internal */ readonly calls = new PendingCalls<CallResult>();
  /** @internal */ readonly echoes = new ReplyQueue<string>();
  /** @internal */ readonly iams = new ReplyQueue<IamInfo>();
  /** @internal */ readonly pongs = new ReplyQueue<number>();

  constructor(url: string, options: IoClientOptions = {}) {
    super();
    this.options = resolveClientOptions(options);
    this.#home = parseServerUrl(url);
    this.#address = this.#home;
    this.#credentials = this.options.credentials;
    this.#encMode = this.options.encMode;
    if (this.options.autoConnect) this.#open();
  }

  // ---- state ------------------------------------------------------------------------------------

  get state(): ClientState {
    return this.#state;
  }
  get url(): string {
    return this.#address.href;
  }
  get address(): ServerAddress {
    return this.#address;
  }
  get cid(): string {
    return this.#cid;
  }
  get level(): number {
    return this.#level;
  }
  get quota(): Quota {
    return this.#quota;
  }
  get authorized(): boolean {
    return this.boho.authorized;
  }
  get connected(): boolean {
    return this.#transport !== null && this.#state !== 'connecting';
  }
  get channels(): string[] {
    return [...this.#channels];
  }
  get credentials(): Credentials | undefined {
    return this.#credentials;
  }
  get encMode(): EncMode {
    return this.#encMode;
  }
  set encMode(mode: EncMode) {
    this.#encMode = mode;
  }
  /** Would an eligible message be encrypted right now (§4.7)? */
  get encrypting(): boolean {
    if (this.#encMode === 'yes') return true;
    return this.#encMode === 'auto' && this.boho.authorized && !this.#address.tls;
  }

  /** Resolves with the CID once the client is ready (at once if it is). */
  whenReady(timeoutMs = 10_000): Promise<string> {
    if (this.#state === 'ready') return Promise.resolve(this.#cid);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('ready', onReady);
        reject(new ReplyTimeoutError(`ready from ${this.url}`, timeoutMs));
      }, timeoutMs);
      const onReady = (cid: string): void => {
        clearTimeout(timer);
        resolve(cid);
      };
      this.once('ready', onReady);
    });
  }

  // ---- connection ---------------------------------------------------------------------------------

  /** Connects (again) after `close()`, or to a new URL. Does nothing when already connected to it. */
  connect(url?: string): void {
    const address = url === undefined ? this.#home : parseServerUrl(url);
    this.#stopped = false;
    const sameTarget = address.href === this.#address.href;
    this.#home = address;
    if (this.#transport && sameTarget) return;
    this.#cancelReconnect();
    if (this.#transport) {
      this.#redirectTo = address; // the close handler opens the new target at once
      this.#transport.close();
      return;
    }
    this.#address = address;
    this.#open();
  }

  /** Drops the current connection and connects again at once (optionally to a new URL). */
  reconnect(url?: string): void {
    if (url !== undefined) this.#home = parseServerUrl(url);
    this.#stopped = false;
    this.#cancelReconnect();
    if (this.#transport) {
      this.#redirectTo = this.#home;
      this.#transport.close();
    } else {
      this.#address = this.#home;
      this.#open();
    }
  }

  /** Closes for good: no automatic reconnect until `connect()` (Q31: the reference CLI came back). */
  close(): void {
    this.#stopped = true;
    this.#cancelReconnect();
    if (this.#transport) this.#transport.close();
    else this.#setState('stopped');
  }

  #open(): void {
    this.#setState('connecting');
    this.emit('connecting', this.#address.href);
    const transport = openTransport(
      this.#address,
      {
        open: () => this.#onOpen(transport),
        message: (data) => this.#onMessage(transport, data),
        pong: () => this.#onPongFrame(transport),
        close: (reason, error) => this.#onClose(transport, reason, error),
      },
      { tls: this.options.tls, connectTimeoutMs: this.options.connectTimeoutMs, maxMessageSize: this.options.maxMessageSize },
    );
    this.#transport = transport;
  }

  #onOpen(transport: Transport): void {
    if (transport !== this.#transport) return;
    this.boho = new BohoSession();
    this.nonceMessage = null;
    this.handshakeStarted = false;
    this.#cid = '';
    this.#setLevel(DEFAULT_LEVEL);
    this.#lastTraffic = Date.now();
    this.#startKeepalive();
    this.#setState('open');
    this.emit('open');
  }

  #onMessage(transport: Transport, data: Buffer): void {
    if (transport !== this.#transport) return;
    this.#lastTraffic = Date.now();
    handleInbound(this, data);
  }

  #onPongFrame(transport: Transport): void {
    if (transport !== this.#transport) return;
    this.#lastTraffic = Date.now();
    this.receivedPong();
  }

  #onClose(transport: Transport, reason: string, error?: Error): void {
    if (transport !== this.#transport) return;
    this.#transport = null;
    this.#stopKeepalive();
    const wasReady = this.#state === 'ready';
    this.#cid = '';
    this.boho = new BohoSession();
    this.calls.rejectAll(new NotConnectedError('call'));
    this.echoes.rejectAll('echo');
    this.iams.rejectAll('iam');
    this.pongs.rejectAll('ping');

    const redirect = this.#redirectTo;
    this.#redirectTo = null;
    if (redirect && !this.#stopped) {
      this.#setState('closed');
      this.emit('close', { reason, error, wasReady, willReconnect: true, reconnectInMs: 0 });
      this.#address = redirect;
      this.#open();
      return;
    }
    if (this.#stopped || !this.options.reconnect) {
      this.#setState(this.#stopped ? 'stopped' : 'closed');
      this.emit('close', { reason: this.#stopped ? 'closed by the client' : reason, error, wasReady, willReconnect: false });
      return;
    }
    const delay = reconnectDelay(this.options, this.#reconnectAttempt++);
    this.#setState('closed');
    this.emit('close', { reason, error, wasReady, willReconnect: true, reconnectInMs: delay });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#address = this.#home;
      this.#open();
    }, delay);
  }

  #cancelReconnect(): void {
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
  }

  /** Sends a PING after a long silence (§1.3: the JS clients check every 3 s, ping after 40 s). */
  #startKeepalive(): void {
    this.#stopKeepalive();
    this.#keepaliveTimer = setInterval(() => {
      if (Date.now() - this.#lastTraffic > this.options.keepaliveIdleMs) this.sendPlain(PING_MSG);
    }, this.options.keepaliveCheckMs);
    this.#keepaliveTimer.unref();
  }

  #stopKeepalive(): void {
    if (this.#keepaliveTimer) clearInterval(this.#keepaliveTimer);
    this.#keepaliveTimer = null;
  }

  // ---- hooks for the inbound handler (internal) ----------------------------------------------------

  /** @internal */
  setStateFromServer(state: ClientState): void {
    this.#setState(state);
  }

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  /** @internal SERVER_TIME_NONCE, or SERVER_READY from a server that sends no nonce: log in or ask for a CID. */
  startHandshake(): void {
    this.handshakeStarted = true;
    this.#setState('server_ready');
    this.emit('server_ready');
    if (this.#credentials && this.nonceMessage) {
      this.#sendAuthReq(this.#credentials);
      return;
    }
    if (this.#credentials) this.emit('warning', 'the server sent no SERVER_TIME_NONCE, so it cannot log in; continuing anonymously');
    this.sendPlain(CID_REQ_MSG);
  }

  #sendAuthReq(credentials: Credentials): boolean {
    const request = this.nonceMessage ? this.boho.authReq(credentials.id, credentials.key, this.nonceMessage) : null;
    if (!request) return false;
    this.#setState('auth_req');
    return this.sendPlain(request);
  }

  /** @internal CID_RES: ready; resubscribe every remembered channel. */
  becomeReady(cid: string): void {
    this.#cid = cid;
    this.#reconnectAttempt = 0;
    this.#setState('ready');
    this.#sendTagLists(MSG.SUBSCRIBE, [...this.#channels]);
    this.emit('ready', cid);
  }

  /** @internal QUOTA_LEVEL (§3.4); an unknown level keeps the current quota. */
  setLevelFromServer(level: number): void {
    if (!QUOTA_TABLE[level]) {
      this.emit('warning', `the server sent an unknown quota level ${level}; keeping level ${this.#level}`);
      return;
    }
    this.#setLevel(level);
    this.emit('quota', level, this.#quota);
  }

  #setLevel(level: number): void {
    this.#level = level;
    this.#quota = QUOTA_TABLE[level] ?? this.#quota;
  }

  /** @internal AUTH_CLEAR (§3.5): forget the credentials and stop. */
  clearedByServer(reason: string): void {
    this.#credentials = undefined;
    this.emit('auth_clear', reason);
    this.close();
  }

  /** @internal SERVER_REDIRECT (§3.6). */
  redirect(url: string): void {
    let target: ServerAddress;
    try {
      target = parseServerUrl(url);
    } catch (err) {
      this.emit('warning', `ignored a redirect: ${(err as Error).message}`);
      return;
    }
    this.emit('redirect', target.href);
    this.#redirectTo = target;
    this.#transport?.close();
  }

  /** @internal */
  receivedPong(): void {
    this.pongs.deliver(performance.now());
    this.emit('pong');
  }

  /** @internal A signal for the per-tag listeners of `listen()` and the `message` event. */
  deliverSignal(message: SignalMessage): void {
    for (const handler of this.#listeners.get(message.tag) ?? []) handler(message);
    this.emit('message', message);
  }

  // ---- sending ---------------------------------------------------------------------------------------

  /** @internal Sends as is (no encryption); false when not connected or over the quota. */
  sendPlain(message: Uint8Array): boolean {
    if (!this.#transport || this.#state === 'connecting') return false;
    if (message.length > this.#quota.signalSize) {
      // §3.4: the client enforces its own signalSize on what it sends.
      this.emit('over_size', { local: true, size: message.length, limit: this.#quota.signalSize });
      return false;
    }
    this.#transport.send(message);
    this.#lastTraffic = Date.now();
    return true;
  }

  /** @internal Sends an eligible message through the encryption rule (§4.7). */
  sendEligible(message: Uint8Array): boolean {
    if (!this.encrypting) return this.sendPlain(message);
    if (!this.boho.authorized) {
      this.emit('warning', 'ENC_MODE is yes but the client is not logged in; nothing was sent');
      return false;
    }
    const sealed =
      message[0] === MSG.SIGNAL_E2E ? this.boho.sealE2E(message, 3 + message[1]!) : this.boho.encrypt488(message);
    return sealed ? this.sendPlain(sealed) : false;
  }

  /** SUBSCRIBE/UNSUBSCRIBE in as few messages as the 255-byte limit allows. */
  #sendTagLists(type: number, tags: string[]): boolean {
    let sent = true;
    let batch: string[] = [];
    const flush = (): void => {
      if (batch.length > 0) sent = this.sendEligible(encodeTagMessage(type, batch.join(','))) && sent;
      batch = [];
    };
    for (const tag of tags) {
      if (Buffer.byteLength([...batch, tag].join(',')) > TAG_LIST_LIMIT) flush();
      batch.push(tag);
    }
    flush();
    return sent;
  }

  /**
   * Subscribes to `tags` (comma-separated) and remembers them for every later connection.
   * Before ready the tags are only remembered; they go out with the ready resubscription.
   */
  subscribe(tags: string): boolean {
    const list = splitTags(tags);
    for (const tag of list) {
      // `@topic` only means something for one connection (§5.3), so it is not remembered.
      if (!tag.startsWith('@')) this.#channels.add(tag);
    }
    if (this.#state !== 'ready') return false;
    return this.#sendTagLists(MSG.SUBSCRIBE, list);
  }

  /** Subscribes to `tag` and calls `handler` for each signal delivered with exactly that tag. Returns a remover. */
  listen(tag: string, handler: (message: SignalMessage) => void): () => void {
    let handlers = this.#listeners.get(tag);
    if (!handlers) this.#listeners.set(tag, (handlers = new Set()));
    handlers.add(handler);
    if (!tag.startsWith('@')) this.subscribe(tag);
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0) this.#listeners.delete(tag);
    };
  }

  /** Leaves `tags` (comma-separated), or every channel when none are given (`D5 00`, §5.5). */
  unsubscribe(tags = ''): boolean {
    if (tags === '') {
      this.#channels.clear();
      return this.sendEligible(UNSUBSCRIBE_ALL_MSG);
    }
    const list = splitTags(tags);
    for (const tag of list) this.#channels.delete(tag);
    return this.#sendTagLists(MSG.UNSUBSCRIBE, list);
  }

  /** Publishes `args` on `tag`, with the payload type §5.2 picks. False when it could not be sent. */
  signal(tag: string, ...args: unknown[]): boolean {
    return this.sendEligible(buildSignal(tag, ...args));
  }

  /** Same as `signal`. */
  publish(tag: string, ...args: unknown[]): boolean {
    return this.signal(tag, ...args);
  }

  /** Sends `data` end-to-end encrypted under `passphrase` as a SIGNAL_E2E (§4.6); the server cannot read it. */
  signalE2E(tag: string, data: string | Uint8Array, passphrase: string): boolean {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const sealed = this.boho.encryptE2E(bytes, passphrase);
    return this.sendEligible(encodeSignal(tag, PAYLOAD.BINARY, sealed, MSG.SIGNAL_E2E));
  }

  /** The plaintext of a received SIGNAL_E2E, or null when the passphrase is wrong. */
  openE2E(message: SignalMessage, passphrase: string): Buffer | null {
    return decryptE2E(message.payload, passphrase);
  }

  /** Calls `topic` on the service `target` (§7); rejects with CallError, ReplyTimeoutError or NotConnectedError. */
  call(target: string, topic: string, ...args: unknown[]): Promise<CallResult> {
    return this.request({ target, topic, args });
  }

  /** `call` with its own time limit. */
  request({ target, topic, args = [], timeoutMs = this.options.callTimeoutMs }: CallOptions): Promise<CallResult> {
    const what = `call ${target}.${topic}`;
    if (!this.connected) return Promise.reject(new NotConnectedError(what));
    let mid: number;
    let message: Buffer;
    try {
      mid = this.calls.nextMid();
      message = encodeCall(mid, target, topic, ...args);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const answer = this.calls.wait(mid, what, timeoutMs);
    if (!this.sendEligible(message)) this.calls.settle(mid, { error: new NotConnectedError(what) });
    return answer.then(
      (result) => result,
      (err: unknown) => {
        if (err instanceof FailedCall) throw new CallError(target, topic, err.result.status, err.result.body);
        throw err;
      },
    );
  }

  /** Sends IAM (optionally setting the nick) and resolves with IAM_RES (§3.8). */
  iam(nick?: string): Promise<IamInfo> {
    if (!this.connected) return Promise.reject(new NotConnectedError('iam'));
    const answer = this.iams.wait('iam', this.options.callTimeoutMs);
    const message = nick ? Buffer.concat([Buffer.from([MSG.IAM]), Buffer.from(nick, 'utf8')]) : Buffer.from([MSG.IAM]);
    this.sendEligible(message);
    return answer;
  }

  /** ECHO (§3.9); resolves with the echoed text. The server only answers messages under 30 bytes. */
  echo(text = ''): Promise<string> {
    if (!this.connected) return Promise.reject(new NotConnectedError('echo'));
    const answer = this.echoes.wait('echo', this.options.callTimeoutMs, (reply) => reply === text);
    const message = Buffer.concat([Buffer.from([MSG.ECHO]), Buffer.from(text, 'utf8')]);
    // A bare ECHO is never encrypted (§4.7).
    if (text === '') this.sendPlain(message);
    else this.sendEligible(message);
    return answer;
  }

  /** Sends PING; resolves with the round trip in ms when a PONG (message or WebSocket frame) comes back. */
  ping(): Promise<number> {
    if (!this.connected) return Promise.reject(new NotConnectedError('ping'));
    const started = performance.now();
    const answer = this.pongs.wait('ping', this.options.callTimeoutMs);
    this.sendPlain(PING_MSG);
    return answer.then((arrived) => arrived - started);
  }

  /** Sends PONG. */
  pong(): boolean {
    return this.sendPlain(PONG_MSG);
  }

  /** Credentials for the next connection (`.auth`); nothing is sent now. */
  setAuth(auth: string | Credentials | undefined): void {
    this.#credentials = auth === undefined ? undefined : toCredentials(auth);
  }

  /**
   * Logs in now with the SERVER_TIME_NONCE kept from the start of this connection (§3.2, manual login).
   * The credentials are also kept for later connections. False when it could not be sent.
   */
  login(auth: string | Credentials): boolean {
    const credentials = toCredentials(auth);
    this.#credentials = credentials;
    if (!this.nonceMessage) {
      this.emit('warning', 'cannot log in: this connection has no SERVER_TIME_NONCE');
      return false;
    }
    return this.#sendAuthReq(credentials);
  }
}

function splitTags(tags: string): string[] {
  if (typeof tags !== 'string') throw new TypeError('tags must be a string');
  return tags.split(',');
}
