// -f: appends one line per event to connection.log, auth.log and attack.log (§9.2). Streams keep writes off the
// event loop's critical path. Lines carry ids, addresses and reasons only — never key material.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { escapeControl, escapeToken } from './escape.js';

export type LogName = 'connection' | 'auth' | 'attack';

export interface FileLoggerOptions {
  directory: string;
  /** Which logs to write (default: all three). */
  logs?: readonly LogName[];
  /** Told once per log file that fails (default: a line on stderr); the logger then drops that log's lines. */
  onError?: (message: string) => void;
}

export interface PeerInfo {
  ssid: number;
  ip: string;
  /** 'ws' or 'cong' (written WS / CS as the reference does); anything else is written as given. */
  transport: string;
}

export interface ConnectionEventInfo extends PeerInfo {
  cid?: string;
  reason?: string;
}

export interface AuthEventInfo extends PeerInfo {
  cid?: string;
  did?: string;
  admin?: boolean;
  reason?: string;
}

export interface AttackEventInfo extends PeerInfo {
  bytes: Uint8Array;
  reason: string;
}

const ALL_LOGS: readonly LogName[] = ['connection', 'auth', 'attack'];
/** Attack lines show only the start of the offending bytes. */
export const ATTACK_BYTES_SHOWN = 64;
const TRANSPORT_LABELS: Readonly<Record<string, string>> = { ws: 'WS', cong: 'CS' };

export class FileLogger {
  readonly #streams = new Map<LogName, WriteStream>();
  readonly #onError: (message: string) => void;

  constructor(options: FileLoggerOptions) {
    this.#onError = options.onError ?? ((message) => process.stderr.write(`${message}\n`));
    mkdirSync(options.directory, { recursive: true });
    for (const name of new Set(options.logs ?? ALL_LOGS)) {
      const path = join(options.directory, `${name}.log`);
      const stream = createWriteStream(path, { flags: 'a' });
      stream.on('error', (err) => {
        this.#streams.delete(name);
        this.#onError(`file logger: ${path}: ${err.message}; no more lines go to this log`);
      });
      this.#streams.set(name, stream);
    }
  }

  connection(event: 'open' | 'close', info: ConnectionEventInfo): void {
    const details: string[] = [event];
    if (info.cid) details.push(`cid:${token(info.cid)}`);
    if (info.reason) details.push(`reason:${text(info.reason)}`);
    this.#write('connection', info, details);
  }

  auth(ok: boolean, info: AuthEventInfo): void {
    const details: string[] = [ok ? 'OK' : 'FAIL'];
    if (info.admin) details.push('ADMIN');
    if (info.cid) details.push(`cid:${token(info.cid)}`);
    if (info.did) details.push(`did:${token(info.did)}`);
    if (info.reason) details.push(`reason:${text(info.reason)}`);
    this.#write('auth', info, details);
  }

  attack(info: AttackEventInfo): void {
    const shown = Buffer.from(info.bytes.buffer, info.bytes.byteOffset, Math.min(info.bytes.length, ATTACK_BYTES_SHOWN));
    const more = info.bytes.length > ATTACK_BYTES_SHOWN ? `...(+${info.bytes.length - ATTACK_BYTES_SHOWN})` : '';
    this.#write('attack', info, [`bytes:${info.bytes.length}`, `hex:${shown.toString('hex')}${more}`, `reason:${text(info.reason)}`]);
  }

  /** Flushes and closes every log; later events are dropped. */
  async close(): Promise<void> {
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    await Promise.all(
      streams.map(
        (stream) =>
          new Promise<void>((resolve) => {
            stream.once('close', resolve);
            stream.once('error', () => resolve());
            stream.end();
          }),
      ),
    );
  }

  #write(name: LogName, peer: PeerInfo, details: string[]): void {
    const stream = this.#streams.get(name);
    if (!stream) return;
    const transport = TRANSPORT_LABELS[peer.transport] ?? token(peer.transport);
    const fields = [new Date().toISOString(), `#${peer.ssid}`, token(peer.ip), transport, ...details];
    stream.write(`${fields.join(' ')}\n`);
  }
}

/** A value that must stay one field (ids come from the network). */
const token = escapeToken;
/** Free text at the end of a line. */
const text = escapeControl;
