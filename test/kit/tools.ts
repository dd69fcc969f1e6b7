// The Debian programs some tests drive as real peers, found in one place. Every test that spawns one of them asks
// here: `needs(…)` for its describe/it options, `tool(…)` for the path to spawn.
// Without CI=true a group whose program is missing is skipped, with a reason that names the program (run-suite.ts
// lists those groups at the end with the one command that installs them). Under CI=true nothing is skipped: the
// group runs, and `tool()` fails it loudly, naming the package.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

interface ToolSpec {
  /** The Debian package that brings it. */
  readonly package: string;
  /** An executable looked up on PATH, or a Python module that some python3 on PATH must import. */
  readonly command?: string;
  readonly pythonModule?: string;
}

const TOOLS = {
  'redis-server': { package: 'redis-server', command: 'redis-server' },
  'redis-cli': { package: 'redis-tools', command: 'redis-cli' },
  chromium: { package: 'chromium', command: 'chromium' },
  socat: { package: 'socat', command: 'socat' },
  openssl: { package: 'openssl', command: 'openssl' },
  mosquitto_pub: { package: 'mosquitto-clients', command: 'mosquitto_pub' },
  mosquitto_sub: { package: 'mosquitto-clients', command: 'mosquitto_sub' },
  mosquitto_rr: { package: 'mosquitto-clients', command: 'mosquitto_rr' },
  'python3-websockets': { package: 'python3-websockets', pythonModule: 'websockets' },
  'python3-paho-mqtt': { package: 'python3-paho-mqtt', pythonModule: 'paho.mqtt.client' },
} as const satisfies Record<string, ToolSpec>;

export type Tool = keyof typeof TOOLS;

/** The words every skip reason starts with, so that run-suite.ts can find these skips among the others. */
export const SKIP_PREFIX = 'needs ';
const SKIP_SUFFIX = ': not installed';

const found = new Map<Tool, string | null>();

function onPath(command: string): string[] {
  const hits: string[] = [];
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      hits.push(candidate);
    } catch {
      // not in this directory
    }
  }
  return hits;
}

/** The first python3 on PATH that imports `module` (a pyenv python3 may come first without Debian's modules). */
function pythonWith(module: string): string | null {
  for (const python of onPath('python3')) {
    const probe = spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 10_000 });
    if (probe.status === 0) return python;
  }
  return null;
}

function locate(name: Tool): string | null {
  if (!found.has(name)) {
    const spec: ToolSpec = TOOLS[name];
    const path = spec.command ? (onPath(spec.command)[0] ?? null) : pythonWith(spec.pythonModule!);
    found.set(name, path);
  }
  return found.get(name)!;
}

function underCi(): boolean {
  return process.env['CI'] === 'true';
}

/** The tools of `names` that this machine lacks. */
export function missingTools(names: readonly Tool[]): Tool[] {
  return names.filter((name) => locate(name) === null);
}

/** The Debian packages that bring `names`, once each, in the order given. */
export function packagesFor(names: readonly string[]): string[] {
  const packages = names.filter(isTool).map((name) => TOOLS[name].package);
  return [...new Set(packages)];
}

function isTool(name: string): name is Tool {
  return Object.hasOwn(TOOLS, name);
}

/** The one command that installs `packages` (root needs no sudo). */
export function installCommand(packages: readonly string[]): string {
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  return `${sudo}apt-get install -y ${packages.join(' ')}`;
}

/**
 * Options for describe() or it(): skipped when one of `names` is missing and this is not CI. Under CI=true the group
 * always runs, and fails on the missing tool.
 */
export function needs(...names: Tool[]): { skip?: string } {
  const missing = missingTools(names);
  if (missing.length === 0 || underCi()) return {};
  return { skip: `${SKIP_PREFIX}${missing.join(', ')}${SKIP_SUFFIX} (${installCommand(packagesFor(missing))})` };
}

/** The tools a skip reason written by needs() names, or null for any other skip. */
export function toolsOfSkip(reason: string): Tool[] | null {
  if (!reason.startsWith(SKIP_PREFIX)) return null;
  const end = reason.indexOf(SKIP_SUFFIX);
  if (end < 0) return null;
  const names = reason.slice(SKIP_PREFIX.length, end).split(', ');
  return names.every(isTool) ? names : null;
}

/** The path to spawn `name` from; throws, naming the package, where it is missing. */
export function tool(name: Tool): string {
  const path = locate(name);
  if (path !== null) return path;
  const install = installCommand(packagesFor([name]));
  const why = underCi() ? 'and CI=true requires the tests that use it' : 'and a test that needs it was not skipped';
  throw new Error(`${name} is not installed (${install}), ${why}`);
}
