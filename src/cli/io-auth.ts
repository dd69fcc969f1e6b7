// `io-auth`: adds, lists and removes device keys in a .json key file (-d) or Redis (-r) (docs/protocol.md §4.2).
// Keys are stored hashed and are never printed back, not even as the hash (the hash alone is enough to log in).
import { Command } from 'commander';
import { type CliIo, parseArguments, processIo } from './command-line.js';
import { checkDeviceEntry } from '../auth/device-entry.js';
import { messageOf } from '../auth/error-message.js';
import { FileKeyStore } from '../auth/file-store.js';
import { resolveLevel, type KeyStore } from '../auth/key-store.js';
import { RedisKeyStore } from '../auth/redis-store.js';
import { redisTarget } from '../auth/redis-target.js';
import { DEFAULT_LEVEL, QUOTA_TABLE } from '../protocol/codes.js';
import { packageVersion } from './version.js';

const EXIT_FAILED = 1;
const REDIS_CONNECT_WAIT_MS = 2000;

interface StoreOptions {
  authFile?: string;
  authRedis?: boolean | string;
}

/** A failure to report as one line (no stack trace). */
class CliError extends Error {}

interface OpenedStore {
  store: KeyStore;
  /** For messages: the file path or the Redis address without credentials. */
  where: string;
}

/** Warnings go to stderr once each: the CLI and the store may both notice the same thing. */
function makeWarn(io: CliIo): (message: string) => void {
  const printed = new Set<string>();
  return (message) => {
    if (printed.has(message)) return;
    printed.add(message);
    io.err(`io-auth: warning: ${message}\n`);
  };
}

async function openStore(options: StoreOptions, forAdd: boolean, warn: (message: string) => void, env: NodeJS.ProcessEnv): Promise<OpenedStore> {
  const { authFile, authRedis } = options;
  if (authFile !== undefined && authRedis !== undefined) throw new CliError('give either -d <file> or -r [url], not both');
  if (authFile !== undefined) {
    const store = await FileKeyStore.open(authFile, { log: warn, createIfMissing: forAdd });
    if (store.format !== 'json') throw new CliError(`${store.path} is a JavaScript module; io-auth only edits .json key files`);
    return { store, where: store.path };
  }
  if (authRedis !== undefined) {
    const url = typeof authRedis === 'string' ? authRedis : undefined;
    if (url !== undefined && !url.includes('://')) {
      throw new CliError(`-r takes an optional redis:// URL, not "${url}"; put -r after the other arguments`);
    }
    // Entry warnings are printed before the store is used; connection trouble is reported by ready() below.
    const store = new RedisKeyStore(redisTarget(url, env), () => undefined);
    try {
      await store.ready(REDIS_CONNECT_WAIT_MS);
    } catch (err) {
      await store.close();
      throw err;
    }
    return { store, where: `redis ${store.label}` };
  }
  throw new CliError('no key store: give -d <file.json> or -r [redis-url]');
}

async function withStore(
  io: CliIo,
  options: StoreOptions,
  forAdd: boolean,
  warn: (message: string) => void,
  work: (opened: OpenedStore) => Promise<void>,
): Promise<void> {
  const opened = await openStore(options, forAdd, warn, io.env);
  try {
    await work(opened);
  } finally {
    await opened.store.close();
  }
}

function parseLevel(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LEVEL;
  if (!/^\d+$/.test(text)) throw new CliError(`level must be a whole number, got "${text}"`);
  return Number(text);
}

async function addDevice(io: CliIo, id: string, key: string, cid: string, levelText: string | undefined, options: StoreOptions): Promise<void> {
  const warn = makeWarn(io);
  const level = parseLevel(levelText);
  const { errors, warnings } = checkDeviceEntry(id, key, cid, level);
  if (errors.length > 0) throw new CliError(errors.join('; '));
  warnings.forEach(warn);
  if (level === 0 && options.authFile !== undefined) {
    warn('level 0 in a key file reads as the default level 3 (only Redis keeps 0, Q13)');
  }
  await withStore(io, options, true, warn, async ({ store, where }) => {
    await store.add(id, key, cid, level);
    io.out(`added "${id}" (cid ${cid}, level ${level}) to ${where}\n`);
  });
}

async function listDevices(io: CliIo, options: StoreOptions): Promise<void> {
  const warn = makeWarn(io);
  await withStore(io, options, false, warn, async ({ store, where }) => {
    const ids = (await store.list()).sort();
    if (ids.length === 0) {
      io.err(`io-auth: no devices in ${where}\n`);
      return;
    }
    const rows: string[][] = [['ID', 'CID', 'LEVEL']];
    for (const id of ids) {
      const record = await store.lookup(id);
      if (!record) {
        rows.push([id, '-', '- (no key: unknown to the server)']);
        continue;
      }
      const level = resolveLevel(record.level);
      rows.push([id, record.cid || '-', level === null ? `${String(record.level)} (not in the quota table)` : String(level)]);
    }
    io.out(formatColumns(rows));
  });
}

async function removeDevice(io: CliIo, id: string, options: StoreOptions): Promise<void> {
  const warn = makeWarn(io);
  await withStore(io, options, false, warn, async ({ store, where }) => {
    if (!(await store.remove(id))) throw new CliError(`no device "${id}" in ${where}`);
    io.out(`removed "${id}" from ${where}\n`);
  });
}

function formatColumns(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n') + '\n';
}

function withStoreOptions(command: Command): Command {
  return command
    .option('-d, --auth-file <path>', 'a .json key file (created by add when missing)')
    .option('-r, --auth-redis [url]', 'Redis: the URL, else REDIS_URL, else REDIS_HOST/REDIS_PORT (default localhost:6379)');
}

function buildProgram(io: CliIo): Command {
  const program = new Command('io-auth')
    .description('add, list and remove device keys (stored hashed, never printed)')
    .version(packageVersion(), '-V, --version')
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (text, write) => write(`io-auth: ${text}`) })
    .exitOverride();
  withStoreOptions(
    program
      .command('add')
      .description('add or replace a device')
      .argument('<id>', 'auth id, at most 8 bytes (7 for devices that take an "id.key" string)')
      .argument('<key>', 'the plain key; stored as base64 of its SHA-256')
      .argument('<cid>', 'the CID the device gets; not empty, no leading "?", at most 10 bytes for devices')
      .argument('[level]', `quota level (${Object.keys(QUOTA_TABLE).join(', ')})`, String(DEFAULT_LEVEL)),
  ).action((id: string, key: string, cid: string, level: string, options: StoreOptions) => addDevice(io, id, key, cid, level, options));
  withStoreOptions(program.command('list').description('list ids with their cid and level')).action((options: StoreOptions) =>
    listDevices(io, options),
  );
  withStoreOptions(program.command('remove').description('remove a device').argument('<id>', 'auth id')).action(
    (id: string, options: StoreOptions) => removeDevice(io, id, options),
  );
  return program;
}

/** Runs io-auth on `argv` (process.argv form) with `io`'s output and environment; resolves with the exit code. */
export async function runIoAuth(argv: string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    return (await parseArguments(program, argv)) ?? 0;
  } catch (err) {
    io.err(`io-auth: ${messageOf(err)}\n`);
    return EXIT_FAILED;
  }
}

export async function main(argv: string[]): Promise<void> {
  process.exitCode = await runIoAuth(argv);
}
