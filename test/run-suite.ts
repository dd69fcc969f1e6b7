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
 * `node dist/test/run-suite.js [node --test flags…] [test files…]`: flags pass through to node (a reporter, a name
 * pattern); naming files runs only those, each in its own process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const GROUPS = 4;
const CONCURRENCY = 4;
const TIMEOUT_MS = 300_000;
const ROOT_HOOK = /^(before|after|beforeEach|afterEach)\(/m;

const testDir = dirname(fileURLToPath(import.meta.url));

function testFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...testFiles(path));
    else if (name.endsWith('.test.js')) found.push(path);
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

const args = process.argv.slice(2);
const nodeFlags = args.filter((arg) => arg.startsWith('-'));
const named = args.filter((arg) => !arg.startsWith('-'));

const scratch = mkdtempSync(join(tmpdir(), 'iosig-suite-'));
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
  ['--test', `--test-concurrency=${CONCURRENCY}`, `--test-timeout=${TIMEOUT_MS}`, ...nodeFlags, ...files],
  { stdio: 'inherit' },
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => runner.kill(signal));
runner.on('exit', (code, signal) => {
  rmSync(scratch, { recursive: true, force: true });
  process.exitCode = code ?? (signal ? 1 : 0);
});
