// `io-server` / `ios`: runs an iosig broker from the command line (docs/protocol.md §9.2, Q16, Q17).

import type { DuplicateLoginPolicy, LoginLimits } from '../policies.js';
import { isIP } from 'node:net';
import { inspect } from 'node:util';
import { Command, InvalidArgumentError, Option } from 'commander';
import { type CliIo, EXIT_BAD_COMMAND_LINE, parseArguments, processIo } from './command-line.js';
import { startServer, type Server } from '../server.js';
import { SERVER_DEFAULTS, resolveOptions, type ServerOptionsInput, type SlowConsumerPolicy } from '../options.js';
import { bannerLines, box, networkAddress, usageLines } from './banner.js';
import {
  METRIC_DESCRIPTIONS,
  METRIC_PERIOD_MS,
  TrafficWindow,
  channelEntries,
  connectionEntries,
  memoryRow,
  type MetricType,
} from './metric-tables.js';
import { MIN_TIMEOUT_MS, describe, formatBytes } from './server-defaults.js';
import { resolveDurability } from '../store/open.js';
import { STORE_EXIT_CODE, StoreOpenError } from '../store/format.js';
import { versionText } from './version.js';
import { maskSecrets } from './mask-secrets.js';
import { addClusterOptions, clusterInput, workerBusInput, type ClusterFlags } from './cluster-flags.js';
import { accessInput, addAccessOptions, type AccessFlags } from './access-flags.js';
import { addMqttOptions, mqttLimitsInput, type MqttFlags } from './mqtt-flags.js';
import { concretePort, hostLimits, isWorker, runPrimary, workerCount, workersProblem } from './workers.js';
import { backoffWithCap } from '../workers/restart-backoff.js';
import { PrimaryLink } from '../workers/primary-link.js';

import { defaultNodeId } from '../cluster/cluster-options.js';
import { installLastResort } from './last-resort.js';
import { BUILTIN_SERVICE_NAMES, createBuiltinService } from '../services/builtin.js';
import type { Service } from '../services/service.js';

/** Exit codes: 1 = could not serve (no port, port in use), 2 = bad command line. */
const EXIT_USAGE = 1;
/** Shutdown must finish within 2 s; after this the process exits regardless. */
const FORCE_EXIT_MS = 1_800;
/** Rows in a `-m 2` / `-m 3` table: a console table of every connection would stall a busy broker. */
const METRIC_TABLE_ROWS = 100;

export interface CliOptions extends ClusterFlags, AccessFlags, MqttFlags {
  listen?: number;
  listenCongport?: number;
  host?: string;
  plainPrefix?: string;
  maxPlainJson?: number;
  timeout?: number;
  showMessage?: 'none' | 'message';
  metric?: MetricType;
  showOptions?: boolean;
  maxMessage?: number;
  maxBackpressure?: number;
  writeDeadline?: number;
  maxBacklog?: number;
  maxBacklogTotal?: number;
  maxInboundTotal?: number;
  maxSubscriptions?: number;
  maxChannels?: number;
  maxRetainedBytes?: number;
  addressShare?: number;
  loginReserve?: number;
  duplicateProbe?: number;
  slowConsumer?: SlowConsumerPolicy;
  trustedProxy?: string[];
  authFile?: string;
  authParam?: string;
  authEnv?: boolean;
  authRedis?: boolean | string;
  duplicateLogin?: DuplicateLoginPolicy;
  authFailDelay?: number;
  allowCleartextBearer?: boolean;
  membersOnly?: boolean;
  quota?: QuotaSwitch[];
  fileLogger?: boolean | string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  attachServices?: string[] | boolean;
  revealKeys?: boolean;
  adminToken?: string;
  redisServicePrefix?: string;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  maxHandshakes?: number;
  maxHandshakesPerAddress?: number;
  handshakeTimeout?: number;
  openingTimeout?: number;
  fdReserve?: number;
  loginFailRate?: number;
  loginFailBurst?: number;
  dataDir?: string;
  storeMaxPending?: string;
  history?: string[];
  historyMaxBytes?: string;
  cidRetainedGrace?: number;
}

function collectText(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const QUOTA_SWITCHES = ['signalSize', 'publishCounter', 'trafficRate', 'disconnect'] as const;
type QuotaSwitch = (typeof QUOTA_SWITCHES)[number];

function collectQuota(value: string, previous: QuotaSwitch[] | undefined): QuotaSwitch[] {
  const names = value.split(',').map((name) => name.trim()).filter((name) => name !== '');
  for (const name of names) {
    if (!(QUOTA_SWITCHES as readonly string[]).includes(name)) {
      throw new InvalidArgumentError(`expected any of ${QUOTA_SWITCHES.join(', ')}.`);
    }
  }
  return [...(previous ?? []), ...(names as QuotaSwitch[])];
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  const port = Number(value);
  if (port > 65_535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return port;
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('expected a positive whole number.');
  }
  return Number(value);
}

/** A fraction such as 0.1 (or 10%); `open` bounds are excluded. */
function fraction(min: number, max: number, minOpen: boolean, maxOpen: boolean): (value: string) => number {
  const range = `${minOpen ? 'above' : 'at least'} ${min} and ${maxOpen ? 'below' : 'at most'} ${max}`;
  return (value) => {
    const percent = value.trim().endsWith('%');
    const n = Number(percent ? value.trim().slice(0, -1) : value) / (percent ? 100 : 1);
    const fits = Number.isFinite(n) && (minOpen ? n > min : n >= min) && (maxOpen ? n < max : n <= max);
    if (value.trim() === '' || !fits) throw new InvalidArgumentError(`expected a fraction ${range} (such as 0.1 or 10%).`);
    return n;
  };
}

function parseMetric(value: string): MetricType {
  if (value === '1') return 1;
  if (value === '2') return 2;
  if (value === '3') return 3;
  throw new InvalidArgumentError('expected 1 (memory and traffic), 2 (connections) or 3 (channels).');
}

function parseHost(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('expected an address to bind to.');
  return value.trim();
}

/** Exact addresses only: the server matches the peer address literally (no CIDR ranges). */
function collectProxy(value: string, previous: string[] | undefined): string[] {
  if (isIP(value) === 0) throw new InvalidArgumentError('expected an IPv4 or IPv6 address (ranges are not supported).');
  return [...(previous ?? []), value];
}

function buildProgram(io: CliIo): Command {
  const program = new Command('io-server')
    .description('iosig: a signaling broker wire-compatible with iosignal (WebSocket and CongSocket)')
    .usage('[options] (-l <port> and/or -L <port>)')
    .version(versionText(), '-V, --version', 'print the iosig version and the iosignal protocol version')
    .option('-l, --listen <port>', 'WebSocket port (browsers, Node.js); 0 picks a free port', parsePort)
    .option('-L, --listen-congport <port>', 'CongSocket port (Arduino, Node.js); 0 picks a free port', parsePort)
    .option('--host <addr>', describe('address both listeners bind to; :: is dual-stack (IPv6 and IPv4)', '--host'), parseHost)
    .option('-t, --timeout <ms>', describe(`keepalive sweep period in ms; values below ${MIN_TIMEOUT_MS} become ${MIN_TIMEOUT_MS}`, '--timeout'), positiveInteger)
    .addOption(
      new Option('-s, --show-message <mode>', describe('log every received message', '--show-message')).choices(['none', 'message']),
    )
    .option(
      '-m, --metric <type>',
      'print a metric table every 5 s: 1 = process memory and traffic of the current 10 s, 2 = connections, 3 = channels',
      parseMetric,
    )
    .option(
      '--plain-prefix <path>',
      `path prefix of the plain WebSocket endpoint for devices without iosignal: <path><channel>[,<channel>…][?format=json]; off disables (default: ${SERVER_DEFAULTS.plainPrefix})`,
    )
    .option(
      '--max-plain-json <bytes>',
      describe('largest JSON the plain endpoint parses: bigger envelopes are refused, bigger payloads go to JSON devices as base64', '--max-plain-json'),
      positiveInteger,
    )
    .option('-o, --show-options', 'print the resolved options, the bound ports and the attached services')
    .option('--max-message <bytes>', describe('largest accepted message', '--max-message'), positiveInteger)
    .option(
      '--max-backpressure <bytes>',
      describe('bytes a receiver may leave unread before it counts as behind (see --write-deadline)', '--max-backpressure'),
      positiveInteger,
    )
    .option(
      '--write-deadline <ms>',
      describe('how long a receiver may stay behind before --slow-consumer applies; 0 = at once', '--write-deadline'),
      nonNegativeInteger,
    )
    .option(
      '--max-backlog <bytes>',
      describe('hard cap of one receiver\'s backlog: past it --slow-consumer applies at once; it holds at most this + one message', '--max-backlog'),
      positiveInteger,
    )
    .option(
      '--max-backlog-total <bytes>',
      describe('what all receivers behind may hold together; past it the most-behind get --slow-consumer first', '--max-backlog-total'),
      positiveInteger,
    )
    .option(
      '--max-inbound-total <bytes>',
      describe('what large CongSocket frames still arriving may hold together (a quarter per client address, at least one message); a frame past it closes its connection', '--max-inbound-total'),
      positiveInteger,
    )
    .option('--max-subscriptions <n>', describe('channels one connection may subscribe to', '--max-subscriptions'), positiveInteger)
    .option('--max-channels <n>', describe('channels in the broker', '--max-channels'), positiveInteger)
    .option('--max-retained-bytes <bytes>', describe('bytes of retained signals in all', '--max-retained-bytes'), nonNegativeInteger)
    .option(
      '--address-share <fraction>',
      describe('most of --max-channels, --max-retained-bytes and the retained channels one client address (or one logged-in device) may hold; 1 = no share', '--address-share'),
      fraction(0, 1, true, false),
    )
    .option(
      '--login-reserve <fraction>',
      describe('part of those caps only logged-in sessions may use; 0 = none', '--login-reserve'),
      fraction(0, 1, false, true),
    )
    .addOption(
      new Option('--slow-consumer <policy>', describe('what to do with a slow consumer (close it, or drop its deliveries until it drains)', '--slow-consumer')).choices([
        'drop',
        'close',
      ]),
    )
    .option('--trusted-proxy <addr...>', describe('proxies whose X-Forwarded-For / X-Forwarded-Proto are believed', '--trusted-proxy'), collectProxy)
    .option('-d, --auth-file <path>', 'device keys from a .json, .js or .mjs file (re-read on SIGHUP)')
    .option('-e, --auth-param <list>', 'device keys from the list id.key.cid.level,id2.key2.cid2.level2')
    .option('-E, --auth-env', 'device keys from the BOHO_AUTH environment variable, in the -e format')
    .option('-r, --auth-redis [url]', 'device keys from Redis hashes device:<id> (default: REDIS_URL, else REDIS_HOST:REDIS_PORT, else localhost:6379)')
    .addOption(
      new Option('--duplicate-login <policy>', describe('a login whose cid is online: keep-old refuses the new one, replace closes the old one', '--duplicate-login')).choices([
        'keep-old',
        'replace',
      ]),
    )
    .option('--auth-fail-delay <ms>', describe('delay before AUTH_FAIL in ms', '--auth-fail-delay'), nonNegativeInteger)
    .option(
      '--duplicate-probe <ms>',
      describe('keep-old: how long the old session of a duplicate login has to answer a probe before it is closed as stale, in ms', '--duplicate-probe'),
      positiveInteger,
    )
    .option(
      '--allow-cleartext-bearer',
      'accept Authorization: Bearer over plain ws:// from other hosts (labs only: the key crosses the network in clear; refused by default)',
    )
    .option('--members-only', 'only logged-in connections may publish; an anonymous publish gets AUTH_CLEAR and is closed')
    .option('--quota <names>', `enforce quotas of the connection's level: ${QUOTA_SWITCHES.join(',')} (comma-separated)`, collectQuota)
    .option('-f, --file-logger [dir]', 'append connection.log, auth.log and attack.log in dir (default: the current directory)')
    .option('--tls-cert <path>', 'TLS certificate chain (PEM): -l serves wss and -L serves CongSocket over TLS')
    .option('--tls-key <path>', 'TLS private key (PEM)')
    .option('--tls-ca <path>', 'CA bundle (PEM): clients must present a certificate it signed (mutual TLS)')
    .option('-a, --attach-services <names...>', `attach RPC services: ${BUILTIN_SERVICE_NAMES.join(', ')}`)
    .option('--redis-service-prefix <prefix>', "keys the redis service may touch must start with this (default: any key but the key store's device:*)")
    .option('--max-connections <n>', 'most open connections, both transports (default: the open-file limit less 10 %, at least 256 spare; 0 = no cap)', nonNegativeInteger)
    .option('--max-connections-per-address <n>', 'most open connections from one client address (default: 1024; 0 = no cap)', nonNegativeInteger)
    .option(
      '--max-handshakes <n>',
      'most sockets still opening (TLS handshake, first CongSocket frame, request at the mutual-TLS front), counted from accept (default: a quarter of the default --max-connections; 0 = no cap)',
      nonNegativeInteger,
    )
    .option('--max-handshakes-per-address <n>', describe('most such sockets from one client address (an IPv6 /64 counts as one); 0 = no cap', '--max-handshakes-per-address'), nonNegativeInteger)
    .option('--handshake-timeout <ms>', describe('a TLS handshake must finish within this many ms of the accept', '--handshake-timeout'), positiveInteger)
    .option(
      '--opening-timeout <ms>',
      describe('the first CongSocket frame, or the WebSocket request at the mutual-TLS front, must come within this many ms (after the TLS handshake)', '--opening-timeout'),
      positiveInteger,
    )
    .option(
      '--fd-reserve <n>',
      'descriptors kept spare for CongSocket, Redis and files; the WebSocket listener pauses before descriptors run out (default: 1/16 of the open-file limit, 32 to 256; 0 = no guard)',
      nonNegativeInteger,
    )
    .option('--login-fail-rate <n>', 'failed logins per second one client address may make once its burst is spent (default: 2)', positiveInteger)
    .option('--login-fail-burst <n>', 'failed logins one client address may make at once (default: 10)', positiveInteger)
    .option('--data-dir <dir>', 'keep retained signals and histories in <dir>/iosig.mdb across restarts and crashes; off = in memory only (default: off; npm start uses ./data)')
    .option('--store-max-pending <bytes>', `bytes handed to the store and not yet on disk; past it only the names of changed keys are kept (default: ${formatBytes(SERVER_DEFAULTS.storeMaxPending)})`)
    .option('--history <pattern=count[/seconds]>', 'channels matching the pattern keep their last count signals, none older than seconds, for clients that recover what they missed (repeatable; e.g. "chat/#=100", "sensor/+=0/3600")', collectText)
    .option('--history-max-bytes <bytes>', `all histories together (default: ${formatBytes(SERVER_DEFAULTS.historyMaxBytes)})`)
    .option('--cid-retained-grace <seconds>', `how long CID-retained values read back at start wait for their device to log in again before they are cleared (default: ${SERVER_DEFAULTS.cidRetainedGraceMs / 1000})`, positiveInteger)
    .option('--reveal-keys', 'let sudo getauth return stored key hashes (hidden by default, Q23)')
    .option('--admin-token <token>', 'bearer token for the admin HTTP API and the dashboard (default: IOSIG_ADMIN_TOKEN)');
  return addAccessOptions(addClusterOptions(addMqttOptions(program)))
    .helpOption('-h, --help', 'print this help')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  io-server -l 7777                 WebSocket on port 7777',
        '  io-server -L 8888                 CongSocket on port 8888',
        '  io-server -l 7777 -L 8888 -m 1    both, with a memory and traffic table every 5 s',
        '  io-server -l 7777 -L 8888 -M 1883 iosignal, CongSocket and MQTT clients on one channel space',
        '  io-server -l 7777 -L 8888 --cluster redis://10.0.0.5:6379   one node of a cluster',
      ].join('\n'),
    )
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (text, write) => write(`io-server: ${text}`) })
    .showHelpAfterError('(run io-server -h for the list of options)')
    .exitOverride();
}

/** --workers in the primary process: checks the flags, fixes the ports, runs the workers until they stop. */
async function startWorkers(opts: CliOptions, argv: string[]): Promise<number> {
  const workers = opts.workers!;
  const problem = workersProblem(workers, opts.cluster, process.env);
  if (problem) {
    warn(`io-server: error: ${problem}`);
    return EXIT_BAD_COMMAND_LINE;
  }
  const host = opts.host ?? SERVER_DEFAULTS.host;
  // Every worker must bind the same ports, so a 0 (any free port) is chosen once, here.
  const args = argv.slice(2);
  if (opts.listen !== undefined) args.push('-l', String(await concretePort(opts.listen, host)));
  if (opts.listenCongport !== undefined) args.push('-L', String(await concretePort(opts.listenCongport, host)));
  if (opts.listenMqtt !== undefined) args.push('-M', String(await concretePort(opts.listenMqtt, host)));
  const count = workerCount(workers);
  installLastResort({ describe: () => `io-server primary pid ${process.pid} (--workers ${count})` });
  return runPrimary(
    {
      count,
      args,
      baseNodeId: opts.nodeId ?? defaultNodeId(),
      log: (line) => console.log(line),
      limits: hostLimits(opts, loginLimitsInput(opts), count),
      backoff: backoffWithCap(opts.workerRestartMax),
    },
    workers === 'auto',
    opts.cluster !== undefined && opts.cluster !== false,
  );
}

/** The login throttle's flags (--login-fail-rate, --login-fail-burst); the rest keep their defaults. */
function loginLimitsInput(opts: CliOptions): Partial<LoginLimits> {
  return {
    ...(opts.loginFailRate !== undefined ? { addressRate: opts.loginFailRate } : {}),
    ...(opts.loginFailBurst !== undefined ? { addressBurst: opts.loginFailBurst } : {}),
  };
}

function warn(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** One line explaining why the server could not start (the transports already name the address and port). */
function startError(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  return /^cannot /i.test(message) ? `io-server: ${message}` : `io-server: cannot start: ${message}`;
}

function printOptions(input: ServerOptionsInput, server: Server): void {
  const { log: _log, clock: _clock, primary: _primary, ...resolved } = resolveOptions(input);
  console.log(`options: ${inspect(maskSecrets(resolved), { depth: 4, breakLength: 100 })}`);
  console.log(`ports: websocket ${server.wsPort ?? 'off'}, congsocket ${server.congPort ?? 'off'}, mqtt ${server.mqttPort ?? 'off'}`);
  const names = server.broker.services.names();
  console.log(`services: ${names.length > 0 ? names.join(', ') : 'none'}`);
}

/** One metric report, a heading and a table, on `out` (a Console: tables as on the terminal; tests pass their own). */
export function printMetrics(out: Console, server: Server, type: MetricType, traffic: TrafficWindow, now = Date.now()): void {
  out.log(`metric ${type}: ${METRIC_DESCRIPTIONS[type]}  ${new Date(now).toISOString()}`);
  if (type === 1) {
    out.table([memoryRow()]);
    out.table([traffic.sample(server.views.sampler.sample(), now)]);
  } else if (type === 2) {
    out.table(connectionEntries(server.views.firstConnections(METRIC_TABLE_ROWS)));
  } else {
    out.table(channelEntries(server.views.firstChannels(METRIC_TABLE_ROWS)));
  }
}

function startMetrics(server: Server, type: MetricType): NodeJS.Timeout {
  console.log(`monitor metric type: ${type} (${METRIC_DESCRIPTIONS[type]}, every ${METRIC_PERIOD_MS / 1000} s)`);
  const traffic = new TrafficWindow(server.views.sampler.sample(), Date.now());
  const timer = setInterval(() => {
    if (process.stdout.isTTY) console.clear();
    printMetrics(console, server, type, traffic);
  }, METRIC_PERIOD_MS);
  timer.unref();
  return timer;
}

/**
 * SIGINT/SIGTERM close the listeners and every connection, then exit 0; after FORCE_EXIT_MS the process exits
 * regardless. Installed before the server starts, so a signal that arrives at any point is handled.
 */
class Shutdown {
  private server: Server | undefined;
  private metricTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  attach(server: Server, metricTimer: NodeJS.Timeout | undefined): void {
    this.server = server;
    this.metricTimer = metricTimer;
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.closing) {
      warn(`io-server: ${signal} again, exiting now`);
      process.exit(0);
    }
    this.closing = true;
    if (this.metricTimer !== undefined) clearInterval(this.metricTimer);
    // Still starting: nothing is serving yet, and exiting closes whatever listener has opened.
    if (this.server === undefined) process.exit(0);
    warn(`io-server: ${signal} received, closing`);
    setTimeout(() => {
      warn('io-server: connections did not close in time, exiting anyway');
      process.exit(0);
    }, FORCE_EXIT_MS).unref();
    this.server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        warn(`io-server: error while closing: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
}

/** What a command line asks for: an exit code (help, version, usage, a bad flag), workers, or one server. */
export type ServerPlan =
  | { kind: 'exit'; code: number }
  | { kind: 'workers'; opts: CliOptions }
  | { kind: 'serve'; opts: CliOptions; input: ServerOptionsInput; services: Service[] };

/**
 * Everything before anything starts: parsing, checks, the server options and the services. It writes only to
 * `io`, so tests run it in this process; `log` gets the services' log lines.
 */
export async function planServer(argv: string[], io: CliIo = processIo, log: (line: string) => void = console.log): Promise<ServerPlan> {
  const program = buildProgram(io);
  const stop = await parseArguments(program, argv);
  if (stop !== null) return { kind: 'exit', code: stop };
  const opts = program.opts<CliOptions>();
  const warn = (line: string): void => io.err(`${line}\n`);
  const badCommandLine = (message: string): ServerPlan => {
    warn(`io-server: error: ${message}`);
    return { kind: 'exit', code: EXIT_BAD_COMMAND_LINE };
  };

  if (opts.listen === undefined && opts.listenCongport === undefined && opts.listenMqtt === undefined) {
    warn(box(usageLines(), io === processIo && process.stderr.isTTY ? 'yellow' : undefined));
    return { kind: 'exit', code: EXIT_USAGE };
  }

  if (opts.workers !== undefined && opts.dataDir !== undefined && opts.dataDir.trim() !== 'off') {
    return badCommandLine(`--data-dir and --workers exclude each other: the workers form a cluster, which keeps durable state in its Redis; one data directory per worker would disagree with the others`);
  }
  if (opts.workers !== undefined && !isWorker()) return { kind: 'workers', opts };

  let timeout = opts.timeout;
  if (timeout !== undefined && timeout < MIN_TIMEOUT_MS) {
    warn(`io-server: --timeout ${timeout} ms is below the minimum, using ${MIN_TIMEOUT_MS} ms`);
    timeout = MIN_TIMEOUT_MS;
  }

  const input: ServerOptionsInput = {};
  if (opts.host !== undefined) input.host = opts.host;
  if (opts.showMessage !== undefined) input.showMessage = opts.showMessage;
  if (opts.plainPrefix !== undefined) input.plainPrefix = opts.plainPrefix === 'off' ? null : opts.plainPrefix;
  if (opts.maxPlainJson !== undefined) input.maxPlainJson = opts.maxPlainJson;
  if (opts.listen !== undefined) input.port = opts.listen;
  if (opts.listenCongport !== undefined) input.congPort = opts.listenCongport;
  if (opts.listenMqtt !== undefined) input.mqttPort = opts.listenMqtt;
  if (opts.mqttWs === true) {
    if (opts.listen === undefined) return badCommandLine('--mqtt-ws needs the WebSocket port (-l)');
    input.mqttWs = true;
  }
  const mqttLimits = mqttLimitsInput(opts);
  if (Object.keys(mqttLimits).length > 0) input.mqtt = mqttLimits;
  if (timeout !== undefined) input.timeout = timeout;
  if (opts.maxMessage !== undefined) input.maxMessageSize = opts.maxMessage;
  if (opts.maxBackpressure !== undefined) input.maxBackpressure = opts.maxBackpressure;
  if (opts.writeDeadline !== undefined) input.writeDeadline = opts.writeDeadline;
  if (opts.maxBacklog !== undefined) input.maxBacklog = opts.maxBacklog;
  if (opts.maxBacklogTotal !== undefined) input.maxBacklogTotal = opts.maxBacklogTotal;
  if (opts.maxInboundTotal !== undefined) input.maxInboundTotal = opts.maxInboundTotal;
  if (opts.maxSubscriptions !== undefined) input.maxSubscriptionsPerConnection = opts.maxSubscriptions;
  if (opts.maxChannels !== undefined) input.maxChannels = opts.maxChannels;
  if (opts.maxRetainedBytes !== undefined) input.maxRetainedBytes = opts.maxRetainedBytes;
  if (opts.addressShare !== undefined || opts.loginReserve !== undefined) {
    input.capShares = {
      ...(opts.addressShare !== undefined ? { share: opts.addressShare } : {}),
      ...(opts.loginReserve !== undefined ? { reserve: opts.loginReserve } : {}),
    };
  }
  if (opts.duplicateProbe !== undefined) input.duplicateProbeTimeout = opts.duplicateProbe;
  if (opts.slowConsumer !== undefined) input.slowConsumer = opts.slowConsumer;
  if (opts.trustedProxy !== undefined) input.trustedProxies = opts.trustedProxy;
  if (opts.authFile !== undefined || opts.authParam !== undefined || opts.authEnv || opts.authRedis !== undefined) {
    input.auth = { file: opts.authFile, param: opts.authParam, env: opts.authEnv, redis: opts.authRedis };
  }
  if (opts.duplicateLogin !== undefined) input.duplicateLogin = opts.duplicateLogin;
  if (opts.authFailDelay !== undefined) input.authFailDelay = opts.authFailDelay;
  if (opts.allowCleartextBearer) input.allowCleartextBearer = true;
  if (opts.membersOnly) input.membersOnly = true;
  if (opts.quota) input.useQuota = Object.fromEntries(opts.quota.map((name) => [name, true]));
  if (opts.fileLogger !== undefined) input.fileLogDir = typeof opts.fileLogger === 'string' ? opts.fileLogger : process.cwd();
  if (opts.tlsCert !== undefined || opts.tlsKey !== undefined || opts.tlsCa !== undefined) {
    if (opts.tlsCert === undefined || opts.tlsKey === undefined) return badCommandLine('--tls-cert and --tls-key go together');
    input.tls = { cert: opts.tlsCert, key: opts.tlsKey, ca: opts.tlsCa };
  }

  if (opts.adminToken !== undefined) input.adminToken = opts.adminToken;
  if (opts.maxConnections !== undefined) input.maxConnections = opts.maxConnections;
  if (opts.maxConnectionsPerAddress !== undefined) input.maxConnectionsPerAddress = opts.maxConnectionsPerAddress;
  if (opts.maxHandshakes !== undefined) input.maxHandshakes = opts.maxHandshakes;
  if (opts.maxHandshakesPerAddress !== undefined) input.maxHandshakesPerAddress = opts.maxHandshakesPerAddress;
  if (opts.handshakeTimeout !== undefined) input.handshakeTimeout = opts.handshakeTimeout;
  if (opts.openingTimeout !== undefined) input.openingTimeout = opts.openingTimeout;
  if (opts.fdReserve !== undefined) input.fdReserve = opts.fdReserve;
  if (opts.loginFailRate !== undefined || opts.loginFailBurst !== undefined) input.loginLimits = loginLimitsInput(opts);
  try {
    const durability = resolveDurability({ dataDir: opts.dataDir, storeMaxPending: opts.storeMaxPending, history: opts.history, historyMaxBytes: opts.historyMaxBytes });
    if (durability.dataDir !== null && (opts.cluster !== undefined && opts.cluster !== false)) {
      return badCommandLine('--data-dir and --cluster exclude each other: the nodes of a cluster (and the workers of --workers) keep durable state in its Redis, one store they all see; a data directory per process would disagree with the others');
    }
    input.dataDir = durability.dataDir;
    input.storeMaxPending = durability.maxPendingBytes;
    input.history = opts.history ?? [];
    input.historyMaxBytes = durability.historyMaxBytes;
    if (opts.cidRetainedGrace !== undefined) input.cidRetainedGraceMs = opts.cidRetainedGrace * 1000;
  } catch (err) {
    return badCommandLine(err instanceof Error ? err.message : String(err));
  }
  try {
    const cluster = await clusterInput(opts, (line) => io.out(`${line}\n`), isWorker());
    if (cluster) input.cluster = cluster;
  } catch (err) {
    return badCommandLine(err instanceof Error ? err.message : String(err));
  }
  try {
    const access = await accessInput(opts, (line) => io.out(`${line}\n`));
    if (access) input.access = access;
  } catch (err) {
    return badCommandLine(err instanceof Error ? err.message : String(err));
  }
  const serviceNames = (Array.isArray(opts.attachServices) ? opts.attachServices : [])
    .flatMap((name) => name.split(','))
    .filter((name) => name !== '');
  try {
    const services = serviceNames.map((name) =>
      createBuiltinService(name, {
        revealKeys: opts.revealKeys === true,
        redisUrl: typeof opts.authRedis === 'string' ? opts.authRedis : undefined,
        redisPrefix: opts.redisServicePrefix,
        log,
      }),
    );
    return { kind: 'serve', opts, input, services };
  } catch (err) {
    return badCommandLine(err instanceof Error ? err.message : String(err));
  }
}

/** Runs the CLI. `argv` is in `process.argv` form (node, script, ...args). */
export async function main(argv: string[]): Promise<void> {
  let serverRef: Server | undefined;
  const plan = await planServer(argv, processIo, (line) => (serverRef ? serverRef.broker.log(line) : console.log(line)));
  if (plan.kind === 'exit') {
    process.exitCode = plan.code;
    return;
  }
  if (plan.kind === 'workers') {
    process.exitCode = await startWorkers(plan.opts, argv);
    return;
  }
  const { opts, input, services } = plan;

  const shutdown = new Shutdown();
  let server: Server;
  installLastResort({
    describe: () => `io-server pid ${process.pid} ws ${serverRef?.wsPort ?? '-'} cong ${serverRef?.congPort ?? '-'} connections ${serverRef?.broker.registry.size ?? 0}`,
  });
  // A worker of --workers: the primary keeps the host's caps and login throttle, and wants to know it serves.
  const primary = isWorker() ? new PrimaryLink() : null;
  // Without --cluster the workers' bus runs through the primary, on the same pipe.
  if (primary && !input.cluster) input.cluster = workerBusInput(opts, primary.ipc);
  try {
    server = await startServer({ ...input, services, primary });
    serverRef = server;
  } catch (err) {
    if (err instanceof StoreOpenError) {
      // The whole message: the file, the reason and the way out. Exit 2, which supervisors are told not to restart.
      warn(`io-server: cannot start: ${err.message}`);
      process.exit(STORE_EXIT_CODE);
    }
    warn(startError(err));
    // A listener that did open before the failure must not keep the process alive.
    process.exit(EXIT_USAGE);
  }

  // The signal handlers before the banner: whoever waits for the banner may signal at once.
  shutdown.attach(server, opts.metric === undefined ? undefined : startMetrics(server, opts.metric));
  // SIGHUP re-reads a key file (other key stores are live already) and the --acl file.
  process.on('SIGHUP', () => {
    server.reloadAccess().then(
      (ok) => {
        if (ok === true) warn('io-server: SIGHUP: access rules reloaded');
        else if (ok === false) warn('io-server: SIGHUP: access rules NOT reloaded, the previous rules stay in force (see the log)');
      },
      (err: unknown) => warn(`io-server: SIGHUP: access rules: ${err instanceof Error ? err.message : String(err)}`),
    );
    server.reloadKeys().then(
      (result) => {
        if (result === null) warn('io-server: SIGHUP: this key store is not a file; nothing to reload');
        else if (result.ok) warn(`io-server: SIGHUP: key store reloaded (${result.count} keys)`);
        else warn(`io-server: SIGHUP: reload FAILED, the previous keys stay in use: ${result.error}`);
      },
      (err: unknown) => warn(`io-server: SIGHUP: reload failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  });
  // Ports of transports that were not asked for stay out of the banner.
  const ports = {
    wsPort: input.port === undefined ? undefined : server.wsPort,
    congPort: input.congPort === undefined ? undefined : server.congPort,
    mqttPort: input.mqttPort === undefined ? undefined : server.mqttPort,
    mqttWs: input.mqttWs === true,
    http: input.http,
  };
  console.log(box(bannerLines(ports, networkAddress(opts.host ?? SERVER_DEFAULTS.host), input.tls !== undefined), process.stdout.isTTY ? 'green' : undefined));
  if (opts.showOptions === true) printOptions(input, server);
  primary?.ready();
}
