// `io` / `io-client`: the interactive and scriptable iosignal console (docs/protocol.md §9.3), with several
// servers in one process (`-c name=url`, repeated) and `io ping` for round-trip times.
import { readFileSync } from 'node:fs';
import readline from 'node:readline';
import { Command, InvalidArgumentError } from 'commander';
import { type CliIo, EXIT_BAD_COMMAND_LINE, parseArguments, processIo } from './command-line.js';
import { BadUrlError, parseServerUrl, type IoClientOptions } from '../client/index.js';
import { runLine, type CommandContext } from './io-commands.js';
import { Output } from './io-output.js';
import { runPing } from './io-ping.js';
import { Session, type ConnectionSpec } from './io-session.js';
import { versionText } from './version.js';

const DEFAULT_URL = 'ws://localhost:7777';
/** Exit codes: 1 = could not connect, 2 = bad command line or URL. */
const EXIT_CONNECT = 1;
const READY_WAIT_MS = 10_000;
/** Text of the ECHO that marks "everything sent before it has been handled" when a script ends. */
const SYNC_TEXT = 'io-sync';

export interface ConnectionFlags {
  connect?: string[];
  id?: string;
  key?: string;
  authIdKey?: string;
  joinChannel?: string[];
  timeout?: number;
  json?: boolean;
  color?: boolean;
  insecure?: boolean;
  ca?: string;
}

export interface ConsoleFlags extends ConnectionFlags {
  stay?: boolean;
}

export interface PingFlags extends ConnectionFlags {
  count?: number;
  interval: number;
  heartbeat?: number;
  channel: string;
}

class UsageProblem extends Error {}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a positive whole number.');
  return n;
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected a whole number ≥ 0.');
  return n;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds > 0.');
  return n;
}

function addConnectionOptions(command: Command): Command {
  return command
    .option('-c, --connect <url>', `server URL, or name=url; repeat to aggregate several servers (default ${DEFAULT_URL}; host:port means ws://)`, collect)
    .option('-i, --id <id>', 'login id (with -k)')
    .option('-k, --key <key>', 'login key (with -i)')
    .option('-a, --auth-id-key <id.key>', 'login id and key in one')
    .option('-j, --join-channel <channel>', 'subscribe when ready (repeatable, or a,b,c)', collect)
    .option('-t, --timeout <ms>', 'time limit for answers (calls, echo, ping)', positiveInteger)
    .option('--json', 'print one JSON object per event')
    .option('--no-color', 'no colours even on a terminal')
    .option('--insecure', 'do not check TLS certificates (wss://, congs://)')
    .option('--ca <file>', 'trust this CA certificate (PEM) for TLS');
}

/** Default name of an unnamed connection: its host:port, kept to the characters a target prefix allows. */
function defaultName(url: string): string {
  const address = parseServerUrl(url);
  return `${address.host}:${address.port}`.replace(/[^\w.:-]/g, '_');
}

/** `-c` values → named connections. Throws BadUrlError or UsageProblem. */
export function connectionSpecs(values: readonly string[] | undefined): ConnectionSpec[] {
  const list = values && values.length > 0 ? values : [DEFAULT_URL];
  const specs: ConnectionSpec[] = [];
  for (const value of list) {
    const named = /^([A-Za-z0-9_][\w.-]*)=(.+)$/.exec(value);
    const url = named ? named[2]! : value;
    parseServerUrl(url);
    let name = named ? named[1]! : defaultName(url);
    if (specs.some((spec) => spec.name === name)) {
      if (named) throw new UsageProblem(`two connections are named "${name}"`);
      let n = 2;
      while (specs.some((spec) => spec.name === `${name}#${n}`)) n++;
      name = `${name}#${n}`;
    }
    specs.push({ name, url });
  }
  return specs;
}

function clientOptions(flags: ConnectionFlags): IoClientOptions {
  if ((flags.id === undefined) !== (flags.key === undefined)) throw new UsageProblem('-i/--id and -k/--key go together');
  const auth = flags.authIdKey ?? (flags.id !== undefined ? { id: flags.id, key: flags.key! } : undefined);
  if (typeof auth === 'string' && !auth.includes('.')) throw new UsageProblem('-a/--auth-id-key expects id.key');
  const options: IoClientOptions = { reconnectDelayMs: 500, reconnectMaxDelayMs: 5000 };
  if (auth !== undefined) options.auth = auth;
  if (flags.timeout !== undefined) options.callTimeoutMs = flags.timeout;
  if (flags.insecure || flags.ca) {
    options.tls = { rejectUnauthorized: !flags.insecure, ...(flags.ca ? { ca: readFileSync(flags.ca) } : {}) };
  }
  return options;
}

function channelsOf(flags: ConnectionFlags): string[] {
  return (flags.joinChannel ?? []).flatMap((value) => value.split(',')).filter((tag) => tag !== '');
}

/** Everything one run needs: output, connections, and a single way out. */
class Run {
  readonly output: Output;
  readonly session: Session;
  private exiting = false;
  private onExit: Array<() => void> = [];

  constructor(flags: ConnectionFlags, specs: ConnectionSpec[]) {
    const json = flags.json === true;
    this.output = new Output({
      json,
      colour: !json && flags.color !== false && process.stdout.isTTY === true && !process.env.NO_COLOR,
      prefixSources: specs.length > 1,
      out: process.stdout,
      err: process.stderr,
    });
    this.session = new Session(specs, clientOptions(flags), this.output);
    this.session.onAllFailed = (reasons) => {
      for (const reason of reasons.values()) process.stderr.write(`io: cannot connect to ${reason}\n`);
      this.exit(EXIT_CONNECT);
    };
  }

  atExit(fn: () => void): void {
    this.onExit.push(fn);
  }

  exit(code: number): void {
    if (this.exiting) return;
    this.exiting = true;
    for (const fn of this.onExit) fn();
    this.session.closeAll();
    // Let stdout drain into a pipe before leaving.
    process.stdout.write('', () => process.exit(code));
  }
}

function runConsole(flags: ConsoleFlags, specs: ConnectionSpec[]): void {
  const run = new Run(flags, specs);
  const interactive = process.stdin.isTTY === true;
  const rl = readline.createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
  run.atExit(() => rl.close());
  const ctx: CommandContext = { session: run.session, output: run.output, readyWaitMs: READY_WAIT_MS, quit: () => run.exit(0) };

  if (interactive) {
    rl.setPrompt('io> ');
    // Keep the prompt and what the user is typing below incoming lines.
    run.output.beforeLine = () => {
      readline.clearLine(process.stdout, 0);
      readline.cursorTo(process.stdout, 0);
    };
    run.output.afterLine = () => rl.prompt(true);
  }

  // Scripts start once every connection is ready or has failed, so `.id` or `.encMode` see the real state.
  let queue: Promise<void> = Promise.all(run.session.select().map((c) => c.readyWithin(READY_WAIT_MS))).then(() => undefined);
  rl.on('line', (line) => {
    queue = queue.then(() => runLine(ctx, line)).then(() => {
      if (interactive) rl.prompt();
    });
  });
  rl.on('close', () => {
    if (interactive) return run.exit(0);
    queue = queue.then(async () => {
      if (flags.stay) return;
      // A script may end before any connection is up: wait for each to be ready or to fail first.
      const ready = await Promise.all(run.session.select().map((c) => c.readyWithin(READY_WAIT_MS)));
      if (!ready.some(Boolean)) {
        process.stderr.write('io: no connection became ready\n');
        return run.exit(EXIT_CONNECT);
      }
      await syncAll(run.session);
      run.exit(0);
    });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => run.exit(0));
  // On a terminal readline takes Ctrl-C itself.
  rl.on('SIGINT', () => run.exit(0));

  run.session.start(channelsOf(flags));
  if (interactive) rl.prompt();
}

/** One ECHO per ready connection: its answer comes after everything the server got before it. */
async function syncAll(session: Session): Promise<void> {
  await Promise.all(
    session.select().map(async (connection) => {
      if (connection.client.state !== 'ready') return;
      connection.quiet++;
      await connection.client.echo(SYNC_TEXT).catch(() => undefined);
      connection.quiet--;
    }),
  );
}

async function runPingCommand(flags: PingFlags, specs: ConnectionSpec[]): Promise<void> {
  const run = new Run(flags, specs);
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // First signal: stop the heartbeat and print the summary; a second one leaves at once.
      if (stop.signal.aborted) run.exit(0);
      stop.abort();
    });
  }
  run.session.start(channelsOf(flags));
  const timeoutMs = flags.timeout ?? 5000;
  const code = await runPing(
    run.session,
    run.output,
    { count: flags.count, intervalMs: flags.interval, heartbeatSeconds: flags.heartbeat, channel: flags.channel, readyWaitMs: READY_WAIT_MS, timeoutMs },
    stop.signal,
  );
  run.exit(code);
}

/** What the command line asks for: an exit code (help, version, a bad flag or URL), the console, or `io ping`. */
export type IoPlan =
  | { kind: 'exit'; code: number }
  | { kind: 'console'; flags: ConsoleFlags; specs: ConnectionSpec[] }
  | { kind: 'ping'; flags: PingFlags; specs: ConnectionSpec[] };

function program(io: CliIo, choose: (plan: IoPlan) => void): Command {
  const output = { writeOut: io.out, writeErr: io.err };
  /** The connections and client options are checked before anything connects (BadUrlError, UsageProblem). */
  const checked = (flags: ConnectionFlags): ConnectionSpec[] => {
    const specs = connectionSpecs(flags.connect);
    clientOptions(flags);
    return specs;
  };
  const root = new Command('io')
    .description('iosignal console: publish, subscribe, call and watch one or several servers.\nType .help inside for the commands.')
    .version(versionText(), '-V, --version')
    .enablePositionalOptions()
    .configureOutput(output)
    .exitOverride();
  addConnectionOptions(root)
    .option('--stay', 'keep running after the end of piped input')
    .action((flags: ConsoleFlags) => choose({ kind: 'console', flags, specs: checked(flags) }));

  const ping = addConnectionOptions(new Command('ping'))
    .description('round-trip times: ECHO to the server and a unicast to our own CID through the broker')
    .option('-n, --count <n>', 'probes of each kind (default 10); with --heartbeat, the number of beats', positiveInteger)
    .option('--interval <ms>', 'pause between probes', nonNegativeInteger, 0)
    .option('--heartbeat <seconds>', 'publish a heartbeat on a channel every so many seconds and time its return', positiveSeconds)
    .option('--channel <tag>', 'heartbeat channel', 'heartbeat')
    .configureOutput(output)
    .exitOverride()
    .action((flags: PingFlags) => choose({ kind: 'ping', flags, specs: checked(flags) }));
  root.addCommand(ping);
  return root;
}

/** Parses and checks a command line without connecting; writes only to `io`, so tests run it in process. */
export async function planIo(argv: readonly string[], io: CliIo = processIo): Promise<IoPlan> {
  let plan: IoPlan = { kind: 'exit', code: 0 };
  try {
    const stop = await parseArguments(
      program(io, (chosen) => (plan = chosen)),
      argv,
    );
    return stop === null ? plan : { kind: 'exit', code: stop };
  } catch (err) {
    if (err instanceof BadUrlError || err instanceof UsageProblem) {
      io.err(`io: ${err.message}\n`);
      return { kind: 'exit', code: EXIT_BAD_COMMAND_LINE };
    }
    throw err;
  }
}

/** Entry point for bin/io.js and bin/io-client.js. */
export async function main(argv: readonly string[]): Promise<void> {
  const plan = await planIo(argv);
  if (plan.kind === 'exit') process.exitCode = plan.code;
  else if (plan.kind === 'console') runConsole(plan.flags, plan.specs);
  else await runPingCommand(plan.flags, plan.specs);
}
