/**
 * `npm test`: the whole suite under node's test runner, four test processes at a time.
 *
 * Starting a test process and loading the server into it costs about half a second of CPU. Paid once per file, that
 * was about 40 s of the suite's 111 s of CPU on the 2-core development machine, so files share processes:
 * - a file that registers hooks at its top level runs in its own process, first: in a shared process a root hook
 *   would apply to every file of the group (keep hooks inside a `describe` and the file can share);
 * - every other file goes to one of GROUPS shared processes, dealt in turn from the sorted list so that the files
 *   that mostly wait on child processes, browsers and Redis spread over the groups. A group imports its files in
 *   order; tests still run one at a time within a process, as they do within a file.
 *
 * Tests that drive a Debian tool (redis-server, Chromium, socat, …) ask kit/tools.ts: without CI=true a missing tool
 * skips its group, and the run ends with the list of those groups and the one command that installs what they need.
 *
 * `node dist/test/run-suite.js [node --test flags…] [test files…]`: flags pass through to node (a reporter, a name
 * pattern); naming files runs only those, each in its own process.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { installCommand, packagesFor } from './kit/tools.js';

const GROUPS = 4;
const CONCURRENCY = 4;
const TIMEOUT_MS = 300_000;
const ROOT_HOOK = /^(before|after|beforeEach|afterEach)\(/m;

const testDir = dirname(fileURLToPath(import.meta.url));

/** dist/test → test: where the sources of the compiled tests are. */
const sourceDir = join(testDir, '..', '..', 'test');

/** The compiled test files whose source still exists (a moved or deleted test leaves its old output in dist/). */
function testFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...testFiles(path));
    else if (name.endsWith('.test.js') && existsSync(join(sourceDir, relative(testDir, path)).replace(/\.js$/, '.ts'))) found.push(path);
  }
  return found;
}

function runsAlone(file: string): boolean {
  return ROOT_HOOK.test(readFileSync(file, 'utf8'));
}

/** Writes one entry file per group (it imports its members in order) and returns the paths. */
function groupEntries(files: string[], dir: string): string[] {
  const count = Math.min(GROUPS, files.length);
  const groups = Array.from({ length: count }, (_, g) => files.filter((_, i) => i % count === g));
  return groups.map((members, i) => {
    const entry = join(dir, `shared-${i + 1}-of-${groups.length}.test.mjs`);
    writeFileSync(entry, members.map((file) => `import ${JSON.stringify(pathToFileURL(file).href)};\n`).join(''));
    return entry;
  });
}

/**
 * node's reporter flags for the run: the reader's own (node's default when none is given) and, beside them, the skip
 * report written to `skipFile`.
 */
function reporterFlags(flags: string[], skipFile: string): string[] {
  const reporters = flags.filter((flag) => flag.startsWith('--test-reporter='));
  const destinations = flags.filter((flag) => flag.startsWith('--test-reporter-destination='));
  const own = reporters.length > 0 ? reporters : [`--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`];
  const ownDestinations = destinations.length > 0 ? destinations : own.map(() => '--test-reporter-destination=stdout');
  const skipReporter = pathToFileURL(join(testDir, 'kit', 'skip-report.js')).href;
  return [...own, ...ownDestinations, `--test-reporter=${skipReporter}`, `--test-reporter-destination=${skipFile}`];
}

/** Lists the groups skipped for want of a tool, and the one command that installs them all. */
function printToolSkips(skipFile: string): void {
  let text = '';
  try {
    text = readFileSync(skipFile, 'utf8');
  } catch {
    return;
  }
  const skips = text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { file: string; name: string; tools: string[] });
  if (skips.length === 0) return;
  const source = (file: string): string => join('test', relative(testDir, file)).replace(/\.js$/, '.ts');
  const lines = skips.map((skip) => `  ${source(skip.file)}: ${skip.name} (needs ${skip.tools.join(', ')})`);
  const command = installCommand(packagesFor(skips.flatMap((skip) => skip.tools)));
  process.stdout.write(
    `\n${skips.length} test group${skips.length === 1 ? '' : 's'} skipped: the Debian tools they need are not installed (under CI=true they run, and fail)\n` +
      `${[...new Set(lines)].join('\n')}\nInstall what they need with:\n  ${command}\n`,
  );
}

const args = process.argv.slice(2);
const nodeFlags = args.filter((arg) => arg.startsWith('-') && !arg.startsWith('--test-reporter'));
const named = args.filter((arg) => !arg.startsWith('-'));

const scratch = mkdtempSync(join(tmpdir(), 'iosig-suite-'));
const skipFile = join(scratch, 'tool-skips.jsonl');
let files: string[];
if (named.length > 0) {
  files = named;
} else {
  const all = testFiles(testDir);
  const alone = all.filter(runsAlone);
  files = [...alone, ...groupEntries(all.filter((file) => !alone.includes(file)), scratch)];
}

const runner = spawn(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${CONCURRENCY}`,
    `--test-timeout=${TIMEOUT_MS}`,
    ...reporterFlags(args, skipFile),
    ...nodeFlags,
    ...files,
  ],
  { stdio: 'inherit' },
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal));
runner.on('exit', (code, signal) => {
  printToolSkips(skipFile);
  rmSync(scratch, { recursive: true, force: true });
  process.exitCode = code ?? (signal ? 1 : 0);
});
