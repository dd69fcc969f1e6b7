// The iosignal client (docs/protocol.md §3, §4, §5, §7): one server, either transport, with login,
// encryption, subscriptions that survive reconnects, RPC calls and typed events. This class is the public
// facade: it owns the connection lifecycle and the remembered channels; each connection's protocol work is
// done by a ClientSession that is never exposed.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BohoSession, decryptE2E } from '../crypto/boho.js';
import { DEFAULT_LEVEL, MSG, PAYLOAD, QUOTA_TABLE, type Quota } from '../protocol/codes.js';
import { PING_MSG, PONG_MSG, UNSUBSCRIBE_ALL_MSG, encodeSignal, encodeTagMessage } from '../protocol/messages.js';
import { buildSignal } from '../protocol/payload.js';
import { encodeCall } from '../protocol/rpc.js';
import { CallError, FailedCall, NotConnectedError, ReplyTimeoutError } from './errors.js';
import type { CallResult, ClientEvents, ClientState, EncMode, HistoryPosition, HistoryRecovery, IamInfo, SignalMessage } from './events.js';
import { openTransport } from './open-transport.js';
import { reconnectDelay, resolveClientOptions, toCredentials, type Credentials, type IoClientOptions, type ResolvedClientOptions } from './options.js';
import { ClientSession, type SessionHost } from './session.js';
import type { Transport } from './transport.js';
import { parseServerUrl, type ServerAddress } from './url.js';

/** A SUBSCRIBE carries at most 255 bytes of tags (§5.5). */
const TAG_LIST_LIMIT = 255;

/** An E2E pack is sealed under the passphrase alone, so any session object can make one. */
const E2E_SEALER = new BohoSession();

/** What `request()` sends: a CALL to a service topic (§7). */
export interface CallOptions {
  /** The service to call (§7). */
  target: string;
  /** The topic (method) on that service. */
  topic: string;
  /** Arguments, packed as MBP. */
  args?: unknown[];
  /** Overrides the client's callTimeoutMs. */
  timeoutMs?: number;
}

/** An iosignal client for one server (`ws://`, `wss://`, `cong://`, `congs://`). */
export class IoClient extends EventEmitter<ClientEvents> {
  /** The options with every default filled in. */
  readonly options: ResolvedClientOptions;
  /** The address given by the user; reconnects go here even after a redirect (§3.6). */
  #home: ServerAddress;
  #address: ServerAddress;
  #transport: Transport | null = null;
  /** The protocol handler of the current (or, after a close, the last) connection. */
  #session: ClientSession | null = null;
  #state: ClientState = 'closed';
  #stopped = false;
  #redirectTo: ServerAddress | null = null;
  #reconnectAttempt = 0;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #credentials: Credentials | undefined;
  #encMode: EncMode;
  #listeners = new Map<string, Set<(message: SignalMessage) => void>>();
  /** Channels subscribed again on every ready, in subscription order. */
  readonly #channels = new Set<string>();
  /** Positioned subscriptions (`subscribeSince`): tag → the last position received (null: none yet). */
  readonly #positions = new Map<string, HistoryPosition | null>();
  #ip = '';
  #nick = '';
  #did = '';
  #uid = '';

  /** Connects at once unless `autoConnect` is false. */
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

  /** Where the client is in the handshake (§3.12). */
  get state(): ClientState {
    return this.#state;
  }
  /** The server it is connected (or connecting) to. */
  get url(): string {
    return this.#address.href;
  }
  /** `url`, parsed. */
  get address(): ServerAddress {
    return this.#address;
  }
  /** The CID from CID_RES; empty when not ready. */
  get cid(): string {
    return this.#session?.cid ?? '';
  }
  /** The quota level the server set (§3.4). */
  get level(): number {
    return this.#session?.level ?? DEFAULT_LEVEL;
  }
  /** The limits of that level. */
  get quota(): Quota {
    return this.#session?.quota ?? QUOTA_TABLE[DEFAULT_LEVEL]!;
  }
  /** Logged in on this connection. */
  get authorized(): boolean {
    return this.#session?.authorized ?? false;
  }
  /** A connection is open (not necessarily ready). */
  get connected(): boolean {
    return this.#transport !== null && this.#state !== 'connecting';
  }
  /** The channels subscribed again on every ready. */
  get channels(): string[] {
    return [...this.#channels];
  }
  /** The credentials used at every login. */
  get credentials(): Credentials | undefined {
    return this.#credentials;
  }
  /** The encryption mode (§4.7); may be changed at any time. */
  get encMode(): EncMode {
    return this.#encMode;
  }
  set encMode(mode: EncMode) {
    this.#encMode = mode;
  }
  /** Would an eligible message be encrypted right now (§4.7)? */
  get encrypting(): boolean {
    return this.#wouldEncrypt(this.authorized);
  }
  /** The client's address as the server sees it (from IAM_RES, §3.8). */
  get ip(): string {
    return this.#ip;
  }
  /** The nick (from IAM_RES). */
  get nick(): string {
    return this.#nick;
  }
  /** The device id of the login (from IAM_RES). */
  get did(): string {
    return this.#did;
  }
  /** The user id of the login (from IAM_RES). */
  get uid(): string {
    return this.#uid;
  }

  #wouldEncrypt(authorized: boolean): boolean {
    if (this.#encMode === 'yes') return true;
    return this.#encMode === 'auto' && authorized && !this.#address.tls;
  }

  /** Resolves with the CID once the client is ready (at once if it is). */
  whenReady(timeoutMs = 10_000): Promise<string> {
    if (this.#state === 'ready') return Promise.resolve(this.cid);
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
        message: (data) => {
          if (transport === this.#transport) this.#session?.receive(data);
        },
        pong: () => {
          if (transport === this.#transport) this.#session?.pong();
        },
        close: (reason, error) => this.#onClose(transport, reason, error),
      },
      { tls: this.options.tls, connectTimeoutMs: this.options.connectTimeoutMs, maxMessageSize: this.options.maxMessageSize, device: this.options.device },
    );
    this.#transport = transport;
  }

  #onOpen(transport: Transport): void {
    if (transport !== this.#transport) return;
    this.#session?.end();
    this.#session = new ClientSession(transport, this.#sessionHost, this.options);
    this.#setState('open');
    this.emit('open');
  }

  #onClose(transport: Transport, reason: string, error?: Error): void {
    if (transport !== this.#transport) return;
    this.#transport = null;
    const wasReady = this.#state === 'ready';
    this.#session?.end();

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

  #setState(state: ClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  /** What the sessions may ask of the client; a private object, so none of it is public API. */
  readonly #sessionHost: SessionHost = {
    emit: this.emit.bind(this),
    setState: (state) => this.#setState(state),
    credentials: () => this.#credentials,
    encrypting: (authorized) => this.#wouldEncrypt(authorized),
    ready: (cid) => {
      // CID_RES: ready; resubscribe every remembered channel.
      this.#reconnectAttempt = 0;
      this.#setState('ready');
      this.#sendTagLists(MSG.SUBSCRIBE, [...this.#channels]);
      // Positioned channels resume from the last position received: exactly what was missed, or a history_gap.
      for (const tag of this.#positions.keys()) void this.#subscribePositioned(tag).catch(() => undefined);
      this.emit('ready', cid);
    },
    cleared: (reason) => {
      this.#credentials = undefined;
      this.emit('auth_clear', reason);
      this.close();
    },
    redirect: (url) => this.#redirect(url),
    learned: (info) => {
      // Like the JS client, keep only non-empty values (§3.8).
      if (info.ip) this.#ip = info.ip;
      if (info.nick) this.#nick = info.nick;
      if (info.did) this.#did = info.did;
      if (info.uid) this.#uid = info.uid;
    },
    signal: (message) => {
      for (const handler of this.#listeners.get(message.tag) ?? []) handler(message);
      this.emit('message', message);
    },
    positioned: (message, epoch, offset) => {
      if (this.#positions.has(message.tag)) this.#positions.set(message.tag, { epoch, offset });
      message.position = { epoch, offset };
      this.#sessionHost.signal(message);
    },
  };

  /**
   * Subscribes to `tag` with positions (an iosig server keeping the channel's history, `--history`): its signals
   * arrive with `message.position`, and after a reconnect exactly the missed ones come first — or a `history_gap`
   * event says they cannot (the subscription goes on from now). `since`: a position kept from an earlier run.
   */
  subscribeSince(tag: string, since?: HistoryPosition | null): Promise<HistoryRecovery> {
    this.#channels.delete(tag);
    this.#positions.set(tag, since ?? this.#positions.get(tag) ?? null);
    if (this.#state !== 'ready') return Promise.resolve({ recovered: false, reason: 'not-ready', position: since ?? { epoch: '', offset: 0 } });
    return this.#subscribePositioned(tag);
  }

  /** The last position received on a positioned subscription (null: none yet; undefined: not positioned). */
  position(tag: string): HistoryPosition | null | undefined {
    return this.#positions.get(tag);
  }

  async #subscribePositioned(tag: string): Promise<HistoryRecovery> {
    const from = this.#positions.get(tag) ?? null;
    const args: unknown[] = from && from.epoch !== '' ? [tag, from.epoch, String(from.offset)] : [tag];
    let result: CallResult;
    try {
      result = await this.call('history', 'subscribe', ...args);
    } catch (err) {
      // No history service here (an iosignal server, or no --history): plain delivery, without positions.
      this.emit('warning', `positioned subscribe of ${tag} failed (${err instanceof Error ? err.message : String(err)}); subscribing plainly`);
      this.#sendTagLists(MSG.SUBSCRIBE, [tag]);
      throw err;
    }
    const body = (result.body ?? {}) as { epoch?: unknown; offset?: unknown; reason?: unknown };
    const position = { epoch: typeof body.epoch === 'string' ? body.epoch : '', offset: typeof body.offset === 'number' ? body.offset : 0 };
    const current = this.#positions.get(tag);
    // Signals that arrived while the answer was on its way may already be further on.
    if (this.#positions.has(tag) && !(current && current.epoch === position.epoch && current.offset > position.offset)) this.#positions.set(tag, position.epoch === '' ? null : position);
    if (result.status === 0) return { recovered: true, position };
    const reason = typeof body.reason === 'string' ? body.reason : 'unknown';
    this.emit('history_gap', tag, reason, position);
    return { recovered: false, reason, position };
  }

  /** SERVER_REDIRECT (§3.6). */
  #redirect(url: string): void {
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

  // ---- sending ---------------------------------------------------------------------------------------

  /** The session of the open connection, or null. */
  get #live(): ClientSession | null {
    return this.#transport && this.#state !== 'connecting' ? this.#session : null;
  }

  #sendPlain(message: Uint8Array): boolean {
    return this.#live?.sendPlain(message) ?? false;
  }

  #sendEligible(message: Uint8Array): boolean {
    const session = this.#live;
    if (session) return session.sendEligible(message);
    // Not connected: the encryption rule still decides whether the user hears about it.
    if (this.#wouldEncrypt(false)) this.emit('warning', 'ENC_MODE is yes but the client is not logged in; nothing was sent');
    return false;
  }

  /** SUBSCRIBE/UNSUBSCRIBE in as few messages as the 255-byte limit allows. */
  #sendTagLists(type: number, tags: string[]): boolean {
    let sent = true;
    let batch: string[] = [];
    const flush = (): void => {
      if (batch.length > 0) sent = this.#sendEligible(encodeTagMessage(type, batch.join(','))) && sent;
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
      for (const tag of this.#positions.keys()) if (this.#state === 'ready') void this.call('history', 'unsubscribe', tag).catch(() => undefined);
      this.#positions.clear();
      return this.#sendEligible(UNSUBSCRIBE_ALL_MSG);
    }
    const list = splitTags(tags);
    for (const tag of list) {
      this.#channels.delete(tag);
      if (this.#positions.delete(tag) && this.#state === 'ready') void this.call('history', 'unsubscribe', tag).catch(() => undefined);
    }
    return this.#sendTagLists(MSG.UNSUBSCRIBE, list);
  }

  /** Publishes `args` on `tag`, with the payload type §5.2 picks. False when it could not be sent. */
  signal(tag: string, ...args: unknown[]): boolean {
    return this.#sendEligible(buildSignal(tag, ...args));
  }

  /** Same as `signal`. */
  publish(tag: string, ...args: unknown[]): boolean {
    return this.signal(tag, ...args);
  }

  /** Sends `data` end-to-end encrypted under `passphrase` as a SIGNAL_E2E (§4.6); the server cannot read it. */
  signalE2E(tag: string, data: string | Uint8Array, passphrase: string): boolean {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const sealed = (this.#session?.boho ?? E2E_SEALER).encryptE2E(bytes, passphrase);
    return this.#sendEligible(encodeSignal(tag, PAYLOAD.BINARY, sealed, MSG.SIGNAL_E2E));
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
    const calls = this.#live?.calls;
    if (!calls) return Promise.reject(new NotConnectedError(what));
    let mid: number;
    let message: Buffer;
    try {
      mid = calls.nextMid();
      message = encodeCall(mid, target, topic, ...args);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const answer = calls.wait(mid, what, timeoutMs);
    if (!this.#sendEligible(message)) calls.settle(mid, { error: new NotConnectedError(what) });
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
    const session = this.#live;
    if (!session) return Promise.reject(new NotConnectedError('iam'));
    const answer = session.iams.wait('iam', this.options.callTimeoutMs);
    const message = nick ? Buffer.concat([Buffer.from([MSG.IAM]), Buffer.from(nick, 'utf8')]) : Buffer.from([MSG.IAM]);
    this.#sendEligible(message);
    return answer;
  }

  /** ECHO (§3.9); resolves with the echoed text. The server only answers messages under 30 bytes. */
  echo(text = ''): Promise<string> {
    const session = this.#live;
    if (!session) return Promise.reject(new NotConnectedError('echo'));
    const answer = session.echoes.wait('echo', this.options.callTimeoutMs, (reply) => reply === text);
    const message = Buffer.concat([Buffer.from([MSG.ECHO]), Buffer.from(text, 'utf8')]);
    // A bare ECHO is never encrypted (§4.7).
    if (text === '') this.#sendPlain(message);
    else this.#sendEligible(message);
    return answer;
  }

  /** Sends PING; resolves with the round trip in ms when a PONG (message or WebSocket frame) comes back. */
  ping(): Promise<number> {
    const session = this.#live;
    if (!session) return Promise.reject(new NotConnectedError('ping'));
    const started = performance.now();
    const answer = session.pongs.wait('ping', this.options.callTimeoutMs);
    this.#sendPlain(PING_MSG);
    return answer.then((arrived) => arrived - started);
  }

  /** Sends PONG. */
  pong(): boolean {
    return this.#sendPlain(PONG_MSG);
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
    const session = this.#live;
    if (!session?.nonce) {
      this.emit('warning', 'cannot log in: this connection has no SERVER_TIME_NONCE');
      return false;
    }
    return session.login(credentials);
  }
}

function splitTags(tags: string): string[] {
  if (typeof tags !== 'string') throw new TypeError('tags must be a string');
  return tags.split(',');
}
