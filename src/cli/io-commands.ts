// The console's dot-commands (docs/protocol.md §9.3, plus .rtt, .wait and .help). A line may start with
// `name[,name...];` to send it to some connections only; otherwise it goes to all of them.
import { CallError, type CallResult } from '../client/index.js';
import { measureRtt } from '../client/rtt.js';
import type { Output } from './io-output.js';
import { showValue } from './io-output.js';
import { printRttReport } from './io-ping.js';
import type { NamedConnection, Session } from './io-session.js';

export interface CommandContext {
  session: Session;
  output: Output;
  /** How long a command waits for a connection that has not been ready yet. */
  readyWaitMs: number;
  quit(): void;
}

type ConnectionCommand = (ctx: CommandContext, connection: NamedConnection, args: string[]) => Promise<void> | void;
type GlobalCommand = (ctx: CommandContext, args: string[]) => Promise<void> | void;

interface CommandSpec {
  names: readonly string[];
  usage: string;
  help: string;
  /** Wait until the connection is ready before running (first connection only). */
  needsReady?: boolean;
  perConnection?: ConnectionCommand;
  global?: GlobalCommand;
}

/** Splits a command line on spaces; "double" or 'single' quotes keep spaces inside one argument. */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  const pattern = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const match of line.matchAll(pattern)) tokens.push(match[1] ?? match[2] ?? match[3] ?? '');
  return tokens;
}

const NAME_LIST = /^\s*([A-Za-z0-9_][\w.:-]*(?:\s*,\s*[A-Za-z0-9_][\w.:-]*)*)\s*;(.*)$/;

/** `a,b;.sig x` → targets ['a','b'] and the command; a line without a prefix targets everyone. */
export function splitTargets(line: string): { targets?: string[]; command: string } {
  const match = NAME_LIST.exec(line);
  if (!match) return { command: line.trim() };
  return { targets: match[1]!.split(',').map((name) => name.trim()), command: match[2]!.trim() };
}

function say(ctx: CommandContext, connection: NamedConnection, event: string, text: string, fields?: Record<string, unknown>, error = false): void {
  ctx.output.print({ source: connection.name, event, text, fields, error, colour: error ? 'red' : undefined });
}

function problem(ctx: CommandContext, connection: NamedConnection, err: unknown): void {
  const text = err instanceof Error ? err.message : String(err);
  say(ctx, connection, 'error', `error: ${text}`, { message: text }, true);
}

function notSent(ctx: CommandContext, connection: NamedConnection, sent: boolean, what: string): void {
  if (!sent) say(ctx, connection, 'error', `error: ${what} not sent (${connection.client.state})`, { message: `${what} not sent` }, true);
}

function need(args: string[], count: number, usage: string): void {
  if (args.length < count) throw new UsageError(`usage: ${usage}`);
}

class UsageError extends Error {}

function responseText(result: CallResult): string {
  return result.body === undefined ? `response: status ${result.status}` : `response: status ${result.status} ${showValue(result.body)}`;
}

async function callAndPrint(ctx: CommandContext, connection: NamedConnection, target: string, topic: string, args: string[]): Promise<void> {
  try {
    const result = await connection.client.call(target, topic, ...args);
    say(ctx, connection, 'response', responseText(result), { ok: true, status: result.status, body: result.body ?? null });
  } catch (err) {
    if (err instanceof CallError) {
      const text = `response: status ${err.status}${err.body === undefined ? '' : ' ' + showValue(err.body)}`;
      ctx.output.print({ source: connection.name, event: 'response', text, fields: { ok: false, status: err.status, body: err.body ?? null }, colour: 'red' });
    } else problem(ctx, connection, err);
  }
}

/** Connection-credential arguments: `id key` or `id.key`. */
function credentialsOf(args: string[], usage: string): string | { id: string; key: string } {
  need(args, 1, usage);
  return args.length >= 2 ? { id: args[0]!, key: args[1]! } : args[0]!;
}

const sig: ConnectionCommand = (ctx, c, args) => {
  need(args, 1, '.sig tag [values...]');
  notSent(ctx, c, c.client.signal(args[0]!, ...args.slice(1)), 'signal');
};

/** `.sub tag since [epoch:offset]`: a positioned subscription (an iosig server with --history). */
async function subSince(ctx: CommandContext, c: NamedConnection, tag: string, at: string | undefined): Promise<void> {
  let since: { epoch: string; offset: number } | null = null;
  if (at !== undefined) {
    const match = /^([^:]+):(\d+)$/.exec(at);
    if (!match) throw new UsageError('usage: .sub tag since [epoch:offset]');
    since = { epoch: match[1]!, offset: Number(match[2]) };
  }
  try {
    const r = await c.client.subscribeSince(tag, since);
    const where = `${r.position.epoch}:${r.position.offset}`;
    say(ctx, c, 'history', r.recovered ? `positioned on ${tag}, live from ${where}` : `positioned on ${tag} from now (${where}): could not recover (${r.reason})`, { tag, ...r }, !r.recovered && r.reason !== 'not-ready');
  } catch (err) {
    problem(ctx, c, err);
  }
}

const sub: ConnectionCommand = (ctx, c, args) => {
  need(args, 1, '.sub tag[,tag...]');
  if (args[1] === 'since') return subSince(ctx, c, args[0]!, args[2]);
  // Before ready the tags are remembered and subscribed on ready, which is not a failure.
  const sent = c.client.subscribe(args.join(','));
  if (!sent && c.client.state === 'ready') notSent(ctx, c, sent, 'subscribe');
};

const COMMANDS: readonly CommandSpec[] = [
  { names: ['.sig', '.signal', '.pub', '.publish'], usage: '.sig tag [a b ...]', help: 'publish: no value EMPTY, one TEXT, several MJSON', needsReady: true, perConnection: sig },
  {
    names: ['.sig_bin'],
    usage: '.sig_bin tag n',
    help: 'publish n zero bytes (BINARY)',
    needsReady: true,
    perConnection: (ctx, c, args) => {
      need(args, 2, '.sig_bin tag n');
      const size = Number(args[1]);
      if (!Number.isInteger(size) || size < 0) throw new UsageError('usage: .sig_bin tag n (n = a byte count)');
      notSent(ctx, c, c.client.signal(args[0]!, Buffer.alloc(size)), 'signal');
    },
  },
  {
    names: ['.sub', '.subscribe', '.join', '.listen'],
    usage: '.sub tag[,tag...] | .sub tag since [epoch:offset]',
    help: 'subscribe (remembered for reconnects); "since": with positions, missed signals first after reconnects (iosig --history)',
    needsReady: true,
    perConnection: sub,
  },
  {
    names: ['.history'],
    usage: '.history tag [n]',
    help: 'the last n (default 10) signals kept in a channel\'s history (iosig --history)',
    needsReady: true,
    perConnection: async (ctx, c, args) => {
      need(args, 1, '.history tag [n]');
      const n = args[1] === undefined ? 10 : Number(args[1]);
      if (!Number.isInteger(n) || n < 1) throw new UsageError('usage: .history tag [n]');
      try {
        const at = (await c.client.call('history', 'position', args[0]!)).body as { epoch?: string; offset?: number } | undefined;
        if (!at?.epoch) return say(ctx, c, 'history', `${args[0]!}: nothing kept`, { tag: args[0]! });
        await callAndPrint(ctx, c, 'history', 'read', [args[0]!, at.epoch, String(Math.max(0, (at.offset ?? 0) - n)), String(n)]);
      } catch (err) {
        problem(ctx, c, err);
      }
    },
  },
  {
    names: ['.unsub', '.unsubscribe'],
    usage: '.unsub [tag,...]',
    help: 'unsubscribe the tags, or everything',
    needsReady: true,
    perConnection: (ctx, c, args) => notSent(ctx, c, c.client.unsubscribe(args.join(',')), 'unsubscribe'),
  },
  {
    names: ['.pping'],
    usage: '.pping cid',
    help: 'send own CID to cid@ping',
    needsReady: true,
    perConnection: (ctx, c, args) => {
      need(args, 1, '.pping cid');
      notSent(ctx, c, c.client.signal(`${args[0]}@ping`, c.client.cid), 'pping');
    },
  },
  {
    names: ['.ping'],
    usage: '.ping',
    help: 'PING the server and time the PONG',
    needsReady: true,
    perConnection: async (ctx, c) => {
      try {
        const ms = await c.client.ping();
        say(ctx, c, 'pong', `pong: ${ms.toFixed(3)} ms`, { ms });
      } catch (err) {
        problem(ctx, c, err);
      }
    },
  },
  { names: ['.pong'], usage: '.pong', help: 'send PONG', needsReady: true, perConnection: (ctx, c) => notSent(ctx, c, c.client.pong(), 'pong') },
  {
    names: ['.rtt'],
    usage: '.rtt [count]',
    help: 'round trips: ECHO to the server and a unicast through the broker',
    needsReady: true,
    perConnection: async (ctx, c, args) => {
      const count = args[0] === undefined ? 10 : Number(args[0]);
      if (!Number.isInteger(count) || count < 1) throw new UsageError('usage: .rtt [count]');
      c.quiet++;
      try {
        printRttReport(ctx.output, c.name, await measureRtt(c.client, { count }));
      } catch (err) {
        problem(ctx, c, err);
      } finally {
        c.quiet--;
      }
    },
  },
  {
    names: ['.id'],
    usage: '.id',
    help: 'show this connection',
    perConnection: (ctx, c) => {
      const cl = c.client;
      const fields = { url: cl.url, state: cl.state, cid: cl.cid, did: cl.did, level: cl.level, authorized: cl.authorized, encMode: cl.encMode, tls: cl.address.tls };
      const text = `id: ${cl.url} state ${cl.state} cid ${cl.cid || '-'} did ${cl.did || '-'} level ${cl.level} ${cl.authorized ? 'authorized' : 'anonymous'} enc ${cl.encMode}${cl.address.tls ? ' tls' : ''}`;
      say(ctx, c, 'id', text, fields);
    },
  },
  {
    names: ['.iam'],
    usage: '.iam [nick]',
    help: 'ask the server who we are (and set the nick)',
    needsReady: true,
    perConnection: async (ctx, c, args) => {
      // The iam event prints the answer.
      await c.client.iam(args.join(' ') || undefined).catch((err: unknown) => problem(ctx, c, err));
    },
  },
  {
    names: ['.echo'],
    usage: '.echo [text]',
    help: 'ECHO (the server answers messages under 30 bytes)',
    needsReady: true,
    perConnection: async (ctx, c, args) => {
      await c.client.echo(args.join(' ')).catch((err: unknown) => problem(ctx, c, err));
    },
  },
  {
    names: ['.call'],
    usage: '.call target topic [args...]',
    help: 'RPC call; prints the response',
    needsReady: true,
    perConnection: async (ctx, c, args) => {
      need(args, 2, '.call target topic [args...]');
      await callAndPrint(ctx, c, args[0]!, args[1]!, args.slice(2));
    },
  },
  {
    names: ['.sudo'],
    usage: '.sudo command [args...]',
    help: 'RPC call to the sudo service',
    needsReady: true,
    perConnection: async (ctx, c, args) => {
      need(args, 1, '.sudo command [args...]');
      await callAndPrint(ctx, c, 'sudo', args[0]!, args.slice(1));
    },
  },
  {
    names: ['.quota'],
    usage: '.quota',
    help: 'show the quota level',
    perConnection: (ctx, c) => {
      const { level, quota } = c.client;
      say(ctx, c, 'quota', `quota: level ${level} ${JSON.stringify(quota)}`, { level, ...quota });
    },
  },
  {
    names: ['.ch'],
    usage: '.ch',
    help: 'show the remembered channels',
    perConnection: (ctx, c) => say(ctx, c, 'channels', `channels: ${c.client.channels.join(',')}`, { channels: c.client.channels }),
  },
  ...(['yes', 'no', 'auto'] as const).map(
    (mode): CommandSpec => ({
      names: [`.enc${mode[0]!.toUpperCase()}${mode.slice(1)}`],
      usage: `.enc${mode[0]!.toUpperCase()}${mode.slice(1)}`,
      help: `ENC_MODE ${mode}`,
      perConnection: (ctx, c) => {
        c.client.encMode = mode;
        say(ctx, c, 'enc_mode', `encMode: ${mode}`, { encMode: mode });
      },
    }),
  ),
  {
    names: ['.encMode'],
    usage: '.encMode',
    help: 'show ENC_MODE and whether messages are encrypted now',
    perConnection: (ctx, c) =>
      say(ctx, c, 'enc_mode', `encMode: ${c.client.encMode} (encrypting: ${c.client.encrypting ? 'yes' : 'no'})`, { encMode: c.client.encMode, encrypting: c.client.encrypting }),
  },
  {
    names: ['.show', '.hide'],
    usage: '.show | .hide',
    help: 'show or hide incoming messages',
    global: (ctx, args) => {
      ctx.session.showMessages = args[0] === '.show';
    },
  },
  {
    names: ['.open', '.connect'],
    usage: '.open [url]',
    help: 'connect again (optionally to a new URL)',
    perConnection: (_ctx, c, args) => c.client.reconnect(args[0]),
  },
  { names: ['.close'], usage: '.close', help: 'close; stays closed until .open', perConnection: (_ctx, c) => c.client.close() },
  {
    names: ['.login'],
    usage: '.login id key | .login id.key',
    help: 'log in now on this connection',
    needsReady: true,
    perConnection: (ctx, c, args) => notSent(ctx, c, c.client.login(credentialsOf(args, '.login id key')), 'login'),
  },
  {
    names: ['.auth'],
    usage: '.auth id key | .auth id.key',
    help: 'credentials for the next connection',
    perConnection: (ctx, c, args) => {
      c.client.setAuth(credentialsOf(args, '.auth id key'));
      say(ctx, c, 'auth', 'auth: credentials kept for the next connection (.open to use them now)');
    },
  },
  {
    names: ['.wait', '.sleep'],
    usage: '.wait ms',
    help: 'pause the script',
    global: async (_ctx, args) => {
      const ms = Number(args[1]);
      if (!Number.isFinite(ms) || ms < 0) throw new UsageError('usage: .wait ms');
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
  },
  { names: ['.quit', '.exit'], usage: '.quit', help: 'exit', global: (ctx) => ctx.quit() },
  { names: ['.help'], usage: '.help', help: 'this list', global: (ctx) => ctx.output.raw(helpText()) },
];

const BY_NAME = new Map<string, CommandSpec>(COMMANDS.flatMap((spec) => spec.names.map((name) => [name, spec] as const)));

export function helpText(): string {
  const rows = COMMANDS.map((spec) => [spec.names.length > 1 ? `${spec.usage}  (${spec.names.slice(1).join(' ')})` : spec.usage, spec.help]);
  const width = Math.max(...rows.map(([usage]) => usage!.length));
  return [
    'commands (prefix a line with name[,name...]; to send it to some connections only):',
    ...rows.map(([usage, help]) => `  ${usage!.padEnd(width)}  ${help}`),
  ].join('\n');
}

async function readyOrReport(ctx: CommandContext, connection: NamedConnection): Promise<boolean> {
  if (await connection.readyWithin(ctx.readyWaitMs)) return true;
  problem(ctx, connection, new Error(`not connected to ${connection.client.url}; command skipped`));
  return false;
}

/** Runs one input line. Never throws: problems are printed. */
export async function runLine(ctx: CommandContext, line: string): Promise<void> {
  const { targets, command } = splitTargets(line);
  if (command === '') return;
  const [name, ...args] = tokenize(command);
  const spec = BY_NAME.get(name!);
  if (!spec) {
    ctx.output.print({ event: 'error', text: `unknown command "${name}"; .help lists the commands`, fields: { message: `unknown command ${name}` }, error: true, colour: 'red' });
    return;
  }
  try {
    if (spec.global) return await spec.global(ctx, [name!, ...args]);
    const connections = ctx.session.select(targets);
    // Every selected connection runs the command at the same time; a slow one does not hold up the rest.
    await Promise.all(
      connections.map(async (connection) => {
        if (spec.needsReady && !(await readyOrReport(ctx, connection))) return;
        try {
          await spec.perConnection!(ctx, connection, args);
        } catch (err) {
          if (err instanceof UsageError) throw err;
          problem(ctx, connection, err);
        }
      }),
    );
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    ctx.output.print({ event: 'error', text: text.startsWith('usage') ? text : `error: ${text}`, fields: { message: text }, error: true, colour: 'red' });
  }
}

