// io-serial settings: which ports, how their bytes become signals, and the bounds that keep memory flat.
import { basename } from 'node:path';
import type { IoClientOptions } from '../client/index.js';

export type SerialMode = 'line' | 'raw';

/** One `--port PATH[=NAME][,ID.KEY]`. */
export interface PortSpec {
  path: string;
  /** Shown as the device's nick (`serial:NAME`) and in logs; default: the file name of the path. */
  name: string;
  /** `id.key` to log in with, giving the port a stored CID and level. */
  auth?: string;
}

export interface BridgeSettings {
  /** Server URL: ws://, wss://, cong:// or congs://. */
  server: string;
  baudRate: number;
  mode: SerialMode;
  /** Line mode: what ends a line on the UART, and what is appended to commands written to it. */
  delimiter: Buffer;
  /** Longest line (or raw chunk) sent as one signal; longer ones go out in pieces. */
  maxLine: number;
  /** The tag a port publishes on; `{name}` is replaced by the port's name. Default `@serial` = `<cid>@serial`. */
  channel: string;
  /** Unicasts to `<cid>@<commandTopic>` are written to the UART. */
  commandTopic: string;
  /** A channel whose signals are written to every port (seed 000's "to all nodes"); none by default. */
  broadcast?: string;
  /** Bytes of output one port may hold while the server is away; the oldest go first beyond it. */
  bufferBytes: number;
  /** Bytes that may wait for the UART; commands beyond it are dropped and logged. */
  writeLimit: number;
  /** Delay between attempts to (re)open a missing port. */
  portRetryMs: number;
  /** Passed to each port's client (TLS, reconnect delays...). */
  client: Omit<IoClientOptions, 'auth' | 'autoConnect'>;
}

export const DEFAULTS = {
  baudRate: 115_200,
  delimiter: '\\n',
  maxLine: 4096,
  channel: '@serial',
  commandTopic: 'cmd',
  bufferBytes: 1024 * 1024,
  writeLimit: 64 * 1024,
  portRetryMs: 1000,
} as const;

/** `\n`, `\r\n`, `\0`, `\t`, `\\` and `\xHH` in a delimiter typed on a command line. */
export function unescapeDelimiter(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== '\\' || i === text.length - 1) {
      bytes.push(...Buffer.from(ch, 'utf8'));
      continue;
    }
    const next = text[++i]!;
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, '0': 0, '\\': 92 };
    if (next in simple) bytes.push(simple[next]!);
    else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new Error(`unknown escape "\\${next}" in the delimiter (use \\n, \\r, \\t, \\0, \\\\ or \\xHH)`);
  }
  if (bytes.length === 0) throw new Error('the delimiter cannot be empty');
  return Buffer.from(bytes);
}

/** `PATH[=NAME][,ID.KEY]`; throws with a readable message. */
export function parsePortSpec(text: string): PortSpec {
  const comma = text.indexOf(',');
  const main = comma < 0 ? text : text.slice(0, comma);
  const auth = comma < 0 ? undefined : text.slice(comma + 1);
  const equals = main.indexOf('=');
  const path = (equals < 0 ? main : main.slice(0, equals)).trim();
  const name = (equals < 0 ? '' : main.slice(equals + 1)).trim() || basename(path);
  if (path === '') throw new Error(`"${text}": no port path (expected PATH[=NAME][,ID.KEY])`);
  if (auth !== undefined && !/^[^.]+\.[^.]+$/.test(auth)) throw new Error(`"${text}": the login must be ID.KEY`);
  return auth === undefined ? { path, name } : { path, name, auth };
}

/** The tag a port publishes on. */
export function channelFor(settings: Pick<BridgeSettings, 'channel'>, spec: PortSpec): string {
  return settings.channel.replaceAll('{name}', spec.name);
}
