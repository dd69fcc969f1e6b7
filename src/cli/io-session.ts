// The connections of one `io` process: one per `-c`, each named, each printing its own events.
// Losing one never stops the others: each client reconnects on its own.
import { IoClient, type IoClientOptions, type SignalMessage } from '../client/index.js';
import { RTT_TOPIC } from '../client/rtt.js';
import { type Output, showValue, signalEvent } from './io-output.js';

export interface ConnectionSpec {
  name: string;
  url: string;
}

/** One named connection and what the console tracks about it. */
export class NamedConnection {
  everOpened = false;
  everReady = false;
  /** Echo replies and probe unicasts are not printed while a probe runs. */
  quiet = 0;
  /** Resolves true at the first ready, false when the first attempt fails; later events do not change it. */
  readonly firstOutcome: Promise<boolean>;
  settleFirst: (ready: boolean) => void = () => undefined;

  constructor(
    readonly name: string,
    readonly client: IoClient,
  ) {
    this.firstOutcome = new Promise((resolve) => {
      this.settleFirst = resolve;
    });
  }

  /** True once ready; false at once if the first attempt failed; false after `ms` otherwise. */
  async readyWithin(ms: number): Promise<boolean> {
    if (this.everReady) return true;
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.firstOutcome, limit]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The text of one close line, e.g. `closed: connection refused (ECONNREFUSED); reconnecting in 500 ms`. */
function closeText(reason: string, reconnectInMs: number | undefined): string {
  return reconnectInMs === undefined ? `closed: ${reason}` : `closed: ${reason}; reconnecting in ${reconnectInMs} ms`;
}

export class Session {
  readonly connections = new Map<string, NamedConnection>();
  /** `.show` / `.hide`: whether incoming signals are printed. */
  showMessages = true;
  /** Called once when every connection failed its first attempt (nothing to talk to). */
  onAllFailed: (reasons: Map<string, string>) => void = () => undefined;
  private readonly firstFailures = new Map<string, string>();
  /** Set once onAllFailed has fired: the process is leaving, so nothing more is printed about it. */
  private gaveUp = false;

  constructor(
    specs: readonly ConnectionSpec[],
    options: IoClientOptions,
    private readonly output: Output,
  ) {
    for (const spec of specs) {
      const client = new IoClient(spec.url, { ...options, autoConnect: false });
      const connection = new NamedConnection(spec.name, client);
      this.connections.set(spec.name, connection);
      this.wire(connection);
    }
  }

  /** Subscribes `channels` everywhere (remembered, so they go out on ready), then connects. */
  start(channels: string[]): void {
    for (const { client } of this.connections.values()) {
      for (const channel of channels) client.subscribe(channel);
      client.connect();
    }
  }

  /** The connections named in `names`, or all of them. */
  select(names?: readonly string[]): NamedConnection[] {
    if (!names) return [...this.connections.values()];
    return names.map((name) => {
      const connection = this.connections.get(name);
      if (!connection) throw new Error(`unknown connection "${name}" (known: ${[...this.connections.keys()].join(', ')})`);
      return connection;
    });
  }

  closeAll(): void {
    for (const { client } of this.connections.values()) {
      client.removeAllListeners('close');
      client.close();
    }
  }

  private wire(connection: NamedConnection): void {
    const { client, name: source } = connection;
    const print = this.output.print.bind(this.output);
    let announced = false;
    client.on('connecting', (url) => {
      // Retries are visible from the close lines; say "connecting" once.
      if (announced) return;
      announced = true;
      print({ source, event: 'connecting', text: `connecting to ${url}`, fields: { url }, colour: 'gray' });
    });
    client.on('open', () => {
      connection.everOpened = true;
    });
    client.on('ready', (cid) => {
      connection.everReady = true;
      connection.settleFirst(true);
      print({ source, event: 'ready', text: `ready: cid ${cid}`, fields: { cid, url: client.url }, colour: 'green' });
    });
    client.on('message', (message) => this.printSignal(connection, message));
    client.on('close', (info) => {
      if (!connection.everOpened && info.error) this.firstAttemptFailed(connection, info.reason);
      if (this.gaveUp) return;
      print({
        source,
        event: 'close',
        text: closeText(info.reason, info.willReconnect ? info.reconnectInMs : undefined),
        fields: { reason: info.reason, reconnectInMs: info.willReconnect ? info.reconnectInMs ?? 0 : null },
        colour: 'yellow',
      });
    });
    client.on('auth_res', () => print({ source, event: 'auth_res', text: 'login: ok', colour: 'green' }));
    client.on('auth_fail', (reason) => {
      print({ source, event: 'auth_fail', text: `auth_fail: ${reason}`, fields: { reason }, colour: 'red' });
      // A refused login is a first outcome: a script need not wait for a ready that will not come.
      connection.settleFirst(false);
    });
    client.on('auth_clear', (reason) =>
      print({ source, event: 'auth_clear', text: `auth_clear: ${reason || 'the server voided the login'}`, fields: { reason }, colour: 'red' }),
    );
    client.on('quota', (level, quota) =>
      print({ source, event: 'quota', text: `quota: level ${level}, signalSize ${quota.signalSize} bytes`, fields: { level, ...quota } }),
    );
    client.on('over_size', (info) => {
      const text = info.local ? `over_size: not sent, ${info.size} bytes is over the ${info.limit}-byte quota` : 'over_size: the server refused a message as too big';
      print({ source, event: 'over_size', text, fields: { ...info }, colour: 'red' });
    });
    client.on('iam', (info) => print({ source, event: 'iam', text: `iam: ${JSON.stringify(info)}`, fields: { info } }));
    client.on('echo', (text) => {
      if (connection.quiet === 0) print({ source, event: 'echo', text: `echo: ${text}`, fields: { text } });
    });
    client.on('server_signal', (event, data) =>
      print({ source, event: 'server_signal', text: `server_signal: ${event} ${showValue(data)}`, fields: { name: event, data } }),
    );
    client.on('set', (topic, args) =>
      print({ source, event: 'set', text: `set: ${topic} ${args.map(showValue).join(' ')}`, fields: { topic, args } }),
    );
    client.on('redirect', (url) => print({ source, event: 'redirect', text: `redirect: ${url}`, fields: { url }, colour: 'yellow' }));
    client.on('unknown', (data) =>
      print({ source, event: 'unknown', text: `unknown message: ${data.toString('hex')}`, fields: { hex: data.toString('hex') }, colour: 'gray' }),
    );
    client.on('warning', (text) => print({ source, event: 'warning', text: `warning: ${text}`, fields: { text }, colour: 'yellow', error: true }));
  }

  private printSignal(connection: NamedConnection, message: SignalMessage): void {
    if (!this.showMessages) return;
    if (connection.quiet > 0 && message.tag === `@${RTT_TOPIC}`) return;
    this.output.print(signalEvent(connection.name, message));
  }

  private firstAttemptFailed(connection: NamedConnection, reason: string): void {
    if (this.firstFailures.has(connection.name)) return;
    connection.settleFirst(false);
    this.firstFailures.set(connection.name, `${connection.client.url}: ${reason}`);
    const someoneConnected = [...this.connections.values()].some((c) => c.everOpened);
    if (!someoneConnected && this.firstFailures.size === this.connections.size) {
      this.gaveUp = true;
      this.onAllFailed(this.firstFailures);
    }
  }
}
