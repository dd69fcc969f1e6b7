// `io-serial`: bridges serial ports (UARTs) to an iosig server, one device per port.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { parseCommandLine } from './command-line.js';
import { parseServerUrl, type TlsSettings } from '../client/index.js';
import { SerialBridge } from '../serial/bridge.js';
import { DEFAULTS, parsePortSpec, unescapeDelimiter, type BridgeSettings, type PortSpec } from '../serial/settings.js';
import { versionText } from './version.js';

interface Flags {
  connect: string;
  port: PortSpec[];
  baud: number;
  delimiter: string;
  raw?: boolean;
  maxLine: number;
  channel: string;
  command: string;
  broadcast?: string;
  buffer: number;
  retry: number;
  insecure?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  quiet?: boolean;
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a positive whole number.');
  return n;
}

function collectPort(value: string, previous: PortSpec[] | undefined): PortSpec[] {
  try {
    return [...(previous ?? []), parsePortSpec(value)];
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function checkUrl(value: string): string {
  try {
    return parseServerUrl(value).href;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function checkDelimiter(value: string): string {
  try {
    unescapeDelimiter(value);
    return value;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function buildProgram(): Command {
  return new Command('io-serial')
    .description('bridge serial ports to an iosig server: each port becomes a device with its own CID')
    .usage('-c <url> --port <path>[=name][,id.key] [--port …] [options]')
    .version(versionText(), '-V, --version')
    .requiredOption('-c, --connect <url>', 'server URL (ws://, wss://, cong://, congs://; host:port means ws://)', checkUrl)
    .requiredOption('-p, --port <spec>', 'a serial port: PATH[=NAME][,ID.KEY] (repeat for more ports)', collectPort)
    .option('-b, --baud <rate>', 'baud rate of every port', positiveInteger, DEFAULTS.baudRate)
    .option('-d, --delimiter <text>', 'line end on the UART (escapes: \\n \\r \\t \\0 \\xHH)', checkDelimiter, DEFAULTS.delimiter)
    .option('--raw', 'binary mode: UART bytes go out as BINARY chunks, commands are written as is')
    .option('--max-line <bytes>', 'longest line or raw chunk in one signal; longer lines go out in pieces', positiveInteger, DEFAULTS.maxLine)
    .option('--channel <tag>', 'tag each port publishes on; {name} is the port name (default @serial = <cid>@serial)', DEFAULTS.channel)
    .option('--command <topic>', 'unicasts to <cid>@<topic> are written to the port', DEFAULTS.commandTopic)
    .option('--broadcast <channel>', 'signals on this channel are written to every port')
    .option('--buffer <bytes>', 'output one port may hold while the server is away (oldest dropped beyond it)', positiveInteger, DEFAULTS.bufferBytes)
    .option('--retry <ms>', 'delay between attempts to reopen a missing port', positiveInteger, DEFAULTS.portRetryMs)
    .option('--insecure', 'do not check the server certificate')
    .option('--ca <file>', 'trust this CA certificate (PEM)')
    .option('--cert <file>', 'client certificate (PEM) for mutual TLS')
    .option('--key <file>', 'client private key (PEM) for mutual TLS')
    .option('-q, --quiet', 'no status lines')
    .exitOverride();
}

function tlsFrom(flags: Flags): TlsSettings | undefined {
  if (!flags.insecure && !flags.ca && !flags.cert) return undefined;
  return {
    rejectUnauthorized: !flags.insecure,
    ...(flags.ca ? { ca: readFileSync(flags.ca) } : {}),
    ...(flags.cert ? { cert: readFileSync(flags.cert) } : {}),
    ...(flags.key ? { key: readFileSync(flags.key) } : {}),
  };
}

export function settingsFrom(flags: Flags): BridgeSettings {
  const tls = tlsFrom(flags);
  return {
    server: flags.connect,
    baudRate: flags.baud,
    mode: flags.raw ? 'raw' : 'line',
    delimiter: unescapeDelimiter(flags.delimiter),
    maxLine: flags.maxLine,
    channel: flags.channel,
    commandTopic: flags.command,
    ...(flags.broadcast ? { broadcast: flags.broadcast } : {}),
    bufferBytes: flags.buffer,
    writeLimit: DEFAULTS.writeLimit,
    portRetryMs: flags.retry,
    client: tls ? { tls } : {},
  };
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  if (!(await parseCommandLine(program, argv))) return;
  const flags = program.opts<Flags>();
  const bridge = new SerialBridge(flags.port, settingsFrom(flags));
  if (!flags.quiet) bridge.on('log', (line) => console.log(line));
  bridge.start();
  const stop = (): void => {
    void bridge.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
