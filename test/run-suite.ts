/**
 * `npm test`: the whole suite under node's test runner, in GROUPS shared test processes (8, or IOSIG_TEST_GROUPS) and
 * one per file that cannot share.
 *
 * Starting a test process and loading the server into it costs about half a second of CPU, so files share processes:
 * - a file that registers hooks at its top level, or is marked `// run-suite: own process` (it measures its
 *   process's stalls), runs in its own process: in a shared process a root hook would apply
 *   to every file of the group (keep hooks inside a `describe` and the file can share);
 * - every other file goes to one of GROUPS shared processes. A group imports its files in order; tests still run one
 *   at a time within a process, as they do within a file.
 * All processes start at once, and the suite lasts as long as its slowest one, so the files are dealt by how long they
 * took (test/durations.json, seconds per file; a file not listed counts as NEW_FILE_SECONDS): the longest first, each
 * to the group with the least so far. `--save-durations` runs the suite and writes that file anew from what it
 * measured.
 * No process is shorter than its longest file: describes that each start their own server processes are better
 * split into files of their own, as test/cluster/workers*.test.ts are, so that they run at once.
 *
 * Tests that drive a Debian tool (redis-server, Chromium, socat, …) ask kit/tools.ts: without CI=true a missing tool
 * skips its group, and the run ends with the list of those groups and the one command that installs what they need.
 *
 * `node dist/test/run-suite.js [node --test flags…] [test files…]`: flags pass through to node (a reporter, a name
 * pattern); naming files runs only those, each in its own process, GROUPS at a time.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { installCommand, packagesFor } from './kit/tools.js';

/**
 * Shared processes. Most files mostly wait (on sockets, child processes, browsers, Redis), so a 2-core host keeps
 * busy with far more processes than cores: on one (shared with other work), 8 or 10 finished sooner than 4 or 6. Each
 * costs half a second of CPU to load the server, and more at once put the timing-sensitive tests under more load.
 */
const GROUPS = Number(process.env['IOSIG_TEST_GROUPS'] ?? 8);
const NEW_FILE_SECONDS = 2;
const SAVE_DURATIONS = '--save-durations';
const TIMEOUT_MS = 300_000;
const ROOT_HOOK = /^(before|after|beforeEach|afterEach)\(/m;
/** A file that measures this process's stalls or CPU: other files in its process would be counted as its own. */
const OWN_PROCESS = /^\/\/ run-suite: own process\b/m;

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
  const text = readFileSync(file, 'utf8');
  return ROOT_HOOK.test(text) || OWN_PROCESS.test(text);
}

/** test/x/y.test.ts for dist/test/x/y.test.js. */
function sourceOf(file: string): string {
  return join('test', relative(testDir, file)).replace(/\.js$/, '.ts');
}

const durationsFile = join(sourceDir, 'durations.json');

function readDurations(): Map<string, number> {
  try {
    return new Map(Object.entries(JSON.parse(readFileSync(durationsFile, 'utf8')) as Record<string, number>));
  } catch {
    return new Map();
  }
}

const durations = readDurations();
const secondsOf = (file: string): number => durations.get(sourceOf(file)) ?? NEW_FILE_SECONDS;

interface Unit {
  path: string;
  seconds: number;
}

/** Deals `files` to GROUPS groups, the longest first, each to the group with the least so far; one entry file each. */
function groupEntries(files: string[], dir: string): Unit[] {
  const groups = Array.from({ length: Math.min(GROUPS, files.length) }, () => ({ seconds: 0, members: [] as string[] }));
  for (const file of [...files].sort((x, y) => secondsOf(y) - secondsOf(x))) {
    const least = groups.reduce((best, group) => (group.seconds < best.seconds ? group : best));
    least.members.push(file);
    least.seconds += secondsOf(file);
  }
  return groups.map(({ seconds, members }, i) => {
    const path = join(dir, `shared-${i + 1}-of-${groups.length}.test.mjs`);
    writeFileSync(path, members.map((file) => `import ${JSON.stringify(pathToFileURL(file).href)};\n`).join(''));
    return { path, seconds };
  });
}

/** Seconds per test file from the suite report, rounded to a tenth; files of other runs are left out. */
function measuredDurations(lines: SuiteLine[]): Record<string, number> {
  const sums = new Map<string, number>();
  for (const line of lines) {
    if (line.ms === undefined || !line.file.startsWith(testDir)) continue;
    sums.set(sourceOf(line.file), (sums.get(sourceOf(line.file)) ?? 0) + line.ms / 1000);
  }
  const sorted = [...sums.entries()].sort(([x], [y]) => x.localeCompare(y));
  return Object.fromEntries(sorted.map(([file, seconds]) => [file, Math.round(seconds * 10) / 10]));
}

/**
 * node's reporter flags for the run: the reader's own (node's default when none is given) and, beside them, the skip
 * suite report (kit/suite-report.ts) written to `reportFile`.
 */
function reporterFlags(flags: string[], reportFile: string): string[] {
  const reporters = flags.filter((flag) => flag.startsWith('--test-reporter='));
  const destinations = flags.filter((flag) => flag.startsWith('--test-reporter-destination='));
  const own = reporters.length > 0 ? reporters : [`--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`];
  const ownDestinations = destinations.length > 0 ? destinations : own.map(() => '--test-reporter-destination=stdout');
  const suiteReporter = pathToFileURL(join(testDir, 'kit', 'suite-report.js')).href;
  return [...own, ...ownDestinations, `--test-reporter=${suiteReporter}`, `--test-reporter-destination=${reportFile}`];
}

/** A line of kit/suite-report.ts: a skip for want of tools, or a top-level test's time. */
interface SuiteLine {
  file: string;
  name?: string;
  skip?: string[];
  ms?: number;
}

function readSuiteReport(file: string): SuiteLine[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as SuiteLine);
  } catch {
    return [];
  }
}

/** Lists the groups skipped for want of a tool, and the one command that installs them all. */
function printToolSkips(report: SuiteLine[]): void {
  const skips = report.flatMap((line) => (line.skip ? [{ ...line, tools: line.skip }] : []));
  if (skips.length === 0) return;
  const lines = skips.map((skip) => `  ${sourceOf(skip.file)}: ${skip.name} (needs ${skip.tools.join(', ')})`);
  const command = installCommand(packagesFor(skips.flatMap((skip) => skip.tools)));
  process.stdout.write(
    `\n${skips.length} test group${skips.length === 1 ? '' : 's'} skipped: the Debian tools they need are not installed (under CI=true they run, and fail)\n` +
      `${[...new Set(lines)].join('\n')}\nInstall what they need with:\n  ${command}\n`,
  );
}

const args = process.argv.slice(2);
const nodeFlags = args.filter((arg) => arg.startsWith('-') && !arg.startsWith('--test-reporter') && arg !== SAVE_DURATIONS);
const named = args.filter((arg) => !arg.startsWith('-'));

const scratch = mkdtempSync(join(tmpdir(), 'iosig-suite-'));
const reportFile = join(scratch, 'suite-report.jsonl');
let files: string[];
/** Named files run GROUPS at a time; the whole suite's processes all at once. */
let concurrency = GROUPS;
if (named.length > 0) {
  files = named;
} else {
  const all = testFiles(testDir);
  const alone = all.filter(runsAlone);
  const units = [...alone.map((path) => ({ path, seconds: secondsOf(path) })), ...groupEntries(all.filter((file) => !alone.includes(file)), scratch)];
  files = units.sort((x, y) => y.seconds - x.seconds).map((unit) => unit.path);
  concurrency = files.length;
}

const runner = spawn(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${TIMEOUT_MS}`,
    ...reporterFlags(args, reportFile),
    ...nodeFlags,
    ...files,
  ],
  { stdio: 'inherit' },
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal));
runner.on('exit', (code, signal) => {
  const report = readSuiteReport(reportFile);
  printToolSkips(report);
  if (args.includes(SAVE_DURATIONS) && named.length === 0) {
    writeFileSync(durationsFile, `${JSON.stringify(measuredDurations(report), null, 2)}\n`);
    process.stdout.write(`durations written to ${relative(process.cwd(), durationsFile)}\n`);
  }
  rmSync(scratch, { recursive: true, force: true });
  process.exitCode = code ?? (signal ? 1 : 0);
});
