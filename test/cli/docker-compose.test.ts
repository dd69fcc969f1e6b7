// docker-compose.yml cannot be run here (no Docker engine), so it is checked statically: the services and
// profiles the README promises, every io-server command accepted by io-server's own option parser, and the
// published ports matching the ports each node listens on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { planServer } from '../../src/cli/io-server.js';
import { ROOT } from '../kit/server.js';


interface Service {
  /** Scalar and flow-sequence keys (`command: [...]`, `profiles: [...]`, `image: x`). */
  values: Map<string, string | string[]>;
  /** Block lists (`ports:` followed by `- "a:b"` lines). */
  lists: Map<string, string[]>;
}

/**
 * Reads the `services:` block of this file's YAML subset: two-space indents, flow sequences written as JSON
 * arrays, block lists of scalars, `#` comments. Anything else under a service makes the test fail loudly.
 */
function readServices(text: string): Map<string, Service> {
  const services = new Map<string, Service>();
  let inServices = false;
  let current: Service | null = null;
  let listKey: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '').trimEnd();
    if (!line.trim()) continue;
    const indent = line.length - line.trimStart().length;
    if (indent === 0) {
      inServices = line === 'services:';
      current = null;
      continue;
    }
    if (!inServices) continue;
    const body = line.trim();
    if (indent === 2) {
      const name = /^([\w-]+):$/.exec(body)?.[1];
      assert.ok(name, `service line: ${raw}`);
      current = { values: new Map(), lists: new Map() };
      services.set(name, current);
      listKey = null;
      continue;
    }
    assert.ok(current, `line outside a service: ${raw}`);
    if (indent === 4) {
      const m = /^([\w-]+):\s*(.*)$/.exec(body);
      assert.ok(m, `service key: ${raw}`);
      const [, key, value] = m as unknown as [string, string, string];
      listKey = null;
      if (value === '') {
        listKey = key;
        current.lists.set(key, []);
      } else if (value.startsWith('[')) current.values.set(key, JSON.parse(value.replace(/\[\s*([\w-]+(?:\s*,\s*[\w-]+)*)\s*\]/, (_, items: string) => JSON.stringify(items.split(/\s*,\s*/)))) as string[]);
      else current.values.set(key, value.replace(/^"(.*)"$/, '$1'));
      continue;
    }
    if (listKey && body.startsWith('- ')) current.lists.get(listKey)!.push(body.slice(2).replace(/^"(.*)"$/, '$1'));
    // Deeper mappings (build:, environment:) are not needed by the checks below.
  }
  return services;
}

const compose = readServices(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

const command = (name: string): string[] => {
  const value = compose.get(name)?.values.get('command');
  assert.ok(Array.isArray(value), `${name} has a command list`);
  return value;
};

/**
 * io-server's own command-line checks (planServer: parsing and every check, nothing started) on a service's
 * command. A --cluster node without --cluster-mode asks the `redis` host once (unreachable here: 2 s at most).
 */
async function ioServerOptions(name: string): Promise<Record<string, unknown>> {
  const [program, ...args] = command(name);
  assert.equal(program, 'io-server', `${name} runs io-server`);
  let err = '';
  const io = { out: () => undefined, err: (text: string) => void (err += text), env: {} };
  const plan = await planServer(['node', 'io-server', ...args], io, () => undefined);
  assert.notEqual(plan.kind, 'exit', `io-server refuses the ${name} command: ${err}`);
  return plan.kind === 'exit' ? {} : { ...plan.opts };
}

describe('docker-compose.yml (static: no Docker engine here)', () => {
  it('has the services and profiles the README describes', () => {
    assert.deepEqual([...compose.keys()].sort(), ['io-server', 'node-a', 'node-b', 'redis']);
    assert.deepEqual(compose.get('node-a')!.values.get('profiles'), ['cluster']);
    assert.deepEqual(compose.get('node-b')!.values.get('profiles'), ['cluster']);
    assert.deepEqual(compose.get('redis')!.values.get('profiles'), ['redis', 'cluster']);
    assert.equal(compose.get('io-server')!.values.get('profiles'), undefined, 'the single broker runs without a profile');
    assert.match(readme, /docker compose --profile cluster up --build\s+# redis \+ two nodes \(ws 7781\/7782, cong 8881\/8882\), the second with --workers auto/);
  });

  it('every io-server command is accepted by io-server and the cluster nodes join the redis service', async () => {
    const single = await ioServerOptions('io-server');
    assert.equal(single['cluster'], undefined);
    const a = await ioServerOptions('node-a');
    const b = await ioServerOptions('node-b');
    for (const opts of [a, b]) assert.equal(opts['cluster'], 'redis://redis:6379');
    assert.equal(a['workers'], undefined);
    assert.equal(b['workers'], 'auto');
    assert.notEqual(a['nodeId'], b['nodeId']);
    for (const name of ['node-a', 'node-b']) {
      const dependsOn = compose.get(name)!.values.get('depends_on');
      assert.ok(Array.isArray(dependsOn) && dependsOn.includes('redis'), `${name} starts after redis`);
    }
  });

  it('publishes exactly the ports each node listens on, as the README says', async () => {
    const expected: Record<string, [number, number]> = { 'io-server': [7777, 8888], 'node-a': [7781, 8881], 'node-b': [7782, 8882] };
    for (const [name, [ws, cong]] of Object.entries(expected)) {
      const opts = await ioServerOptions(name);
      assert.deepEqual([opts['listen'], opts['listenCongport']], [ws, cong], `${name} listens on ${ws}/${cong}`);
      assert.deepEqual(compose.get(name)!.lists.get('ports'), [`${ws}:${ws}`, `${cong}:${cong}`], `${name} publishes ${ws}/${cong}`);
    }
  });

  it('the redis service is a Redis 7 (sharded pub/sub needs ≥ 7; plain pub/sub ≥ 6.2)', () => {
    assert.match(String(compose.get('redis')!.values.get('image')), /^redis:7/);
  });

  it('the image provides the io-server command the services run', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /for tool in io-server[^;]*; do ln -s \/app\/bin\/\$tool\.js \/usr\/local\/bin\/\$tool/);
  });
});
