// One serial port as one iosig device: its own client (own CID, optional login), UART output published
// as signals, commands written back. Both sides come back on their own: the client reconnects, the port
// is reopened. Output made while the server is away waits in a bounded outbox and goes out in order.
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { IoClient, type SignalMessage } from '../client/index.js';
import { PAYLOAD } from '../protocol/codes.js';
import { LineSplitter } from './line-splitter.js';
import { Outbox } from './outbox.js';
import { channelFor, type BridgeSettings, type PortSpec } from './settings.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** Own broadcast publishes remembered for echo suppression. */
const OWN_ECHO_LIMIT = 1000;

export interface PortStats {
  path: string;
  name: string;
  cid: string;
  channel: string;
  portOpen: boolean;
  serverReady: boolean;
  /** Signals published from UART output. */
  published: number;
  bytesFromPort: number;
  bytesToPort: number;
  /** Waiting for the server. */
  queued: number;
  /** Dropped because the outbox was full (server away too long). */
  dropped: number;
  droppedBytes: number;
  /** Commands dropped (port closed or UART backlog over the limit). */
  commandsDropped: number;
}

export interface PortBridgeEvents {
  log: [line: string];
  /** The client is ready (after every reconnect). */
  ready: [cid: string];
  /** The port is open (after every reopen). */
  open: [];
  published: [tag: string, bytes: Buffer];
}

export class PortBridge extends EventEmitter<PortBridgeEvents> {
  readonly client: IoClient;
  readonly channel: string;
  private port: SerialPort | null = null;
  private portOpen = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private missingLogged = false;
  private readonly outbox: Outbox<Buffer>;
  private readonly splitter: LineSplitter | null;
  private published = 0;
  private bytesFromPort = 0;
  private bytesToPort = 0;
  private commandsDropped = 0;
  private droppedReported = 0;
  /**
   * Our own publishes on the broadcast channel, in order: iosignal delivers them back to us, and a board must not
   * get its own lines echoed to its UART. Bounded; the server returns them in publish order.
   */
  private ownEchoes: Buffer[] = [];

  constructor(
    readonly spec: PortSpec,
    private readonly settings: BridgeSettings,
  ) {
    super();
    this.channel = channelFor(settings, spec);
    this.outbox = new Outbox(settings.bufferBytes);
    // With the default `\n`, a `\r` before it is part of the line end (boards print `\r\n` as often as `\n`).
    const dropCr = settings.delimiter.length === 1 && settings.delimiter[0] === 0x0a;
    this.splitter =
      settings.mode === 'line'
        ? new LineSplitter(settings.delimiter, settings.maxLine, (line) =>
            this.enqueue(dropCr && line.at(-1) === 0x0d ? line.subarray(0, -1) : line),
          )
        : null;
    this.client = new IoClient(settings.server, { ...settings.client, auth: spec.auth, autoConnect: false, device: 'serial' });
    this.client.on('ready', (cid) => this.onReady(cid));
    this.client.on('message', (message) => this.onSignal(message));
    this.client.on('close', (info) => {
      if (info.wasReady) this.log(`server connection lost (${info.reason})${info.willReconnect ? '; reconnecting' : ''}`);
    });
    this.client.on('auth_fail', (reason) => this.log(`login refused: ${reason}`));
    this.client.on('warning', (text) => this.log(text));
    if (settings.broadcast) this.client.subscribe(settings.broadcast);
  }

  start(): void {
    this.client.connect();
    this.openPort();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.client.close();
    const port = this.port;
    this.port = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  stats(): PortStats {
    return {
      path: this.spec.path,
      name: this.spec.name,
      cid: this.client.cid,
      channel: this.channel,
      portOpen: this.portOpen,
      serverReady: this.client.state === 'ready',
      published: this.published,
      bytesFromPort: this.bytesFromPort,
      bytesToPort: this.bytesToPort,
      queued: this.outbox.size,
      dropped: this.outbox.dropped,
      droppedBytes: this.outbox.droppedBytes,
      commandsDropped: this.commandsDropped,
    };
  }

  private log(line: string): void {
    this.emit('log', `${this.spec.name} (${this.spec.path}): ${line}`);
  }

  // ---- the port ------------------------------------------------------------------------------------

  private openPort(): void {
    if (this.stopped) return;
    const port = new SerialPort({ path: this.spec.path, baudRate: this.settings.baudRate, autoOpen: false });
    this.port = port;
    port.on('data', (chunk: Buffer) => this.onPortData(chunk));
    port.on('error', (err: Error) => this.log(`port error: ${err.message}`));
    port.on('close', () => {
      if (port !== this.port) return;
      this.portOpen = false;
      this.splitter?.flush();
      if (!this.stopped) {
        this.log('port closed; reopening');
        this.scheduleReopen();
      }
    });
    port.open((err) => {
      if (port !== this.port) return;
      if (err) {
        if (!this.missingLogged) this.log(`cannot open the port (${err.message}); retrying every ${this.settings.portRetryMs} ms`);
        this.missingLogged = true;
        this.scheduleReopen();
        return;
      }
      this.missingLogged = false;
      this.portOpen = true;
      this.log(`port open at ${this.settings.baudRate} baud`);
      this.emit('open');
    });
  }

  private scheduleReopen(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.openPort();
    }, this.settings.portRetryMs);
  }

  private onPortData(chunk: Buffer): void {
    this.bytesFromPort += chunk.length;
    if (this.splitter) {
      this.splitter.push(chunk);
      return;
    }
    for (let i = 0; i < chunk.length; i += this.settings.maxLine) this.enqueue(Buffer.from(chunk.subarray(i, i + this.settings.maxLine)));
  }

  // ---- port → server ---------------------------------------------------------------------------------

  private enqueue(bytes: Buffer): void {
    this.outbox.push(bytes, bytes.length + 1);
    if (this.outbox.dropped > this.droppedReported) {
      this.log(`output buffer full (${this.settings.bufferBytes} bytes): dropped the oldest; ${this.outbox.dropped} dropped so far`);
      this.droppedReported = this.outbox.dropped;
    }
    this.drain();
  }

  private drain(): void {
    for (let bytes = this.outbox.peek(); bytes !== undefined; bytes = this.outbox.peek()) {
      if (this.client.state !== 'ready') return;
      if (!this.publish(bytes)) {
        // Ready but refused: over the client's own signalSize quota. It can never go out.
        this.log(`dropped ${bytes.length} bytes over the signal size limit`);
      }
      this.outbox.shift();
    }
  }

  /** Lines that are valid UTF-8 go out as TEXT, anything else (and raw mode) as BINARY: no byte is altered. */
  private publish(bytes: Buffer): boolean {
    let sent: boolean;
    if (this.splitter) {
      let text: string | null = null;
      try {
        text = strictUtf8.decode(bytes);
      } catch {
        text = null;
      }
      sent = text !== null ? this.client.signal(this.channel, text) : this.client.signal(this.channel, bytes);
    } else {
      sent = this.client.signal(this.channel, bytes);
    }
    if (sent && this.channel === this.settings.broadcast) {
      this.ownEchoes.push(bytes);
      if (this.ownEchoes.length > OWN_ECHO_LIMIT) this.ownEchoes.shift();
    }
    if (sent) {
      this.published++;
      this.emit('published', this.channel, bytes);
    }
    return sent;
  }

  private onReady(cid: string): void {
    const shown = this.channel.startsWith('@') ? `${cid}${this.channel}` : this.channel;
    this.log(`ready: cid ${cid}, publishing on ${shown}, commands to ${cid}@${this.settings.commandTopic}`);
    // The nick tells dashboards and `io` listings that this device is a serial port.
    this.client.iam(`serial:${this.spec.name}`).catch(() => undefined);
    this.emit('ready', cid);
    this.drain();
  }

  // ---- server → port ---------------------------------------------------------------------------------

  private onSignal(message: SignalMessage): void {
    const forUs = message.unicast
      ? message.tag === `@${this.settings.commandTopic}`
      : this.settings.broadcast !== undefined && message.tag === this.settings.broadcast;
    if (!forUs) return;
    if (!message.unicast && this.isOwnEcho(message)) return;
    this.writeToPort(this.commandBytes(message));
  }

  private isOwnEcho(message: SignalMessage): boolean {
    const next = this.ownEchoes[0];
    if (!next) return false;
    const payload = message.payloadType === PAYLOAD.TEXT ? message.payload.subarray(0, -1) : message.payload;
    if (!payload.equals(next)) return false;
    this.ownEchoes.shift();
    return true;
  }

  /** TEXT as its text, BINARY as is, other types as JSON; line mode ends a command with the delimiter. */
  private commandBytes(message: SignalMessage): Buffer {
    const lineMode = this.settings.mode === 'line';
    let body: Buffer;
    if (message.payloadType === PAYLOAD.BINARY || !message.decoded) body = message.payload;
    else if (message.payloadType === PAYLOAD.TEXT) body = Buffer.from(String(message.values[0] ?? ''), 'utf8');
    else if (message.payloadType === PAYLOAD.EMPTY) body = Buffer.alloc(0);
    else {
      const values = message.values.map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v));
      body = Buffer.from(JSON.stringify(values.length === 1 ? values[0] : values), 'utf8');
    }
    if (!lineMode || message.payloadType === PAYLOAD.BINARY) return body;
    const delimiter = this.settings.delimiter;
    const ends = body.length >= delimiter.length && body.subarray(body.length - delimiter.length).equals(delimiter);
    return ends ? body : Buffer.concat([body, delimiter]);
  }

  private writeToPort(bytes: Buffer): void {
    const port = this.port;
    if (!port || !this.portOpen) {
      this.commandsDropped++;
      this.log(`command of ${bytes.length} bytes dropped: the port is not open`);
      return;
    }
    if (port.writableLength + bytes.length > this.settings.writeLimit) {
      this.commandsDropped++;
      this.log(`command of ${bytes.length} bytes dropped: ${port.writableLength} bytes already wait for the UART`);
      return;
    }
    this.bytesToPort += bytes.length;
    port.write(bytes);
  }
}
