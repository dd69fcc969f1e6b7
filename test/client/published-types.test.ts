// The published types of every entry point — `iosig/client`, `iosig` and `iosig/protocol` (dist/src/**/*.d.ts,
// emitted by the build that precedes the tests): only the documented API, no internals, every declaration a
// consumer can reach documented, and valid for a strict consumer.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

const DTS_DIR = fileURLToPath(new URL('../../src/client/', import.meta.url));
const SRC_DTS = fileURLToPath(new URL('../../src/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The IoClient API the README and the doc comments describe; a new public member must be added here on purpose. */
const IOCLIENT_MEMBERS = [
  'options', 'constructor', 'state', 'url', 'address', 'cid', 'level', 'quota', 'authorized', 'connected', 'channels',
  'credentials', 'encMode', 'encrypting', 'ip', 'nick', 'did', 'uid', 'whenReady', 'connect', 'reconnect', 'close',
  'subscribe', 'listen', 'unsubscribe', 'signal', 'publish', 'signalE2E', 'openE2E', 'call', 'request', 'iam', 'echo',
  'ping', 'pong', 'setAuth', 'login', 'subscribeSince', 'position',
].sort();

/** Names the protocol handler uses; none may reach a published declaration. */
const INTERNAL_NAMES = [
  'boho', 'sendPlain', 'sendEligible', 'becomeReady', 'calls', 'echoes', 'iams', 'pongs', 'nonce', 'nonceMessage',
  'handshakeStarted', 'startHandshake', 'deliverSignal', 'receivedPong', 'setStateFromServer', 'setLevelFromServer',
  'clearedByServer', 'ClientSession', 'SessionHost', 'BohoSession', 'PendingCalls', 'ReplyQueue', 'FailedCall',
];

async function declarationFiles(): Promise<Map<string, string>> {
  const names = (await readdir(DTS_DIR)).filter((name) => name.endsWith('.d.ts'));
  assert.ok(names.includes('index.d.ts'), `the build emitted no ${DTS_DIR}index.d.ts`);
  return new Map(await Promise.all(names.map(async (name) => [name, await readFile(join(DTS_DIR, name), 'utf8')] as const)));
}

/** The member lines of `export declare class IoClient` (4-space indented, one declaration per line start). */
function classMembers(source: string, className: string): Array<{ name: string; documented: boolean }> {
  const start = source.indexOf(`export declare class ${className} `);
  assert.notEqual(start, -1, `${className} is declared`);
  const body = source.slice(start, source.indexOf('\n}', start)).split('\n').slice(1);
  const members: Array<{ name: string; documented: boolean }> = [];
  for (let i = 0; i < body.length; i++) {
    const match = /^ {4}(?:readonly |static |get |set |protected |private )*([A-Za-z_$#][\w$]*)\s*[(:<;?]/.exec(body[i]!);
    if (!match || body[i]!.startsWith('     ')) continue;
    const previous = body[i - 1]?.trim() ?? '';
    members.push({ name: match[1]!, documented: previous.endsWith('*/') || /^ {4}(get|set) /.test(body[i - 1] ?? '') });
  }
  return members;
}

describe('published client types (iosig/client .d.ts)', () => {
  it('IoClient declares exactly the documented members, each with a doc comment', async () => {
    const source = (await declarationFiles()).get('client.d.ts')!;
    const members = classMembers(source, 'IoClient');
    const names = [...new Set(members.map((member) => member.name).filter((name) => name !== '#private'))].sort();
    assert.deepEqual(names, IOCLIENT_MEMBERS, 'public IoClient members differ from the documented list');
    const undocumented = members.filter((member) => member.name !== '#private' && !member.documented).map((member) => member.name);
    assert.deepEqual(undocumented, [], 'members without a doc comment');
  });

  it('no internal name appears in any emitted client declaration file', async () => {
    for (const [file, source] of await declarationFiles()) {
      const code = source.replace(/\/\*\*[\s\S]*?\*\//g, ''); // prose may use words like "calls"
      for (const name of INTERNAL_NAMES) assert.doesNotMatch(code, new RegExp(`\\b${name}\\b`), `${file} exposes ${name}`);
    }
  });

  it('every exported declaration carries a doc comment', async () => {
    const missing: string[] = [];
    for (const [file, source] of await declarationFiles()) {
      const lines = source.split('\n');
      lines.forEach((line, i) => {
        const match = /^export (?:declare )?(?:abstract )?(?:class|interface|type|function|const|enum) ([\w$]+)/.exec(line);
        if (match && !(lines[i - 1] ?? '').trim().endsWith('*/')) missing.push(`${file}: ${match[1]}`);
      });
    }
    assert.deepEqual(missing, []);
  });

  it('a strict consumer compiles against the declarations and cannot reach the internals', async () => {
    assertCompiles(await consumerErrors(), 'client-consumer.ts');
  });
});

/** The declaration files a consumer of `entry` can reach: the entry and every file its declarations import. */
async function reachable(entry: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const todo = [join(SRC_DTS, entry)];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    const source = await readFile(file, 'utf8');
    files.set(file, source);
    for (const match of source.matchAll(/(?:from|import)\s*\(?\s*['"](\.[^'"]+)\.js['"]/g)) todo.push(join(file, '..', `${match[1]}.d.ts`));
  }
  return files;
}

/** Exported declarations without a doc comment (an overload's later signatures share the first one's). */
function undocumented(files: Map<string, string>): string[] {
  const missing: string[] = [];
  for (const [file, source] of files) {
    const seen = new Set<string>();
    const lines = source.split('\n');
    lines.forEach((line, i) => {
      const match = /^export (?:declare )?(?:abstract )?(?:class|interface|type|function|const|enum) ([\w$]+)/.exec(line);
      if (!match || seen.has(match[1]!)) return;
      seen.add(match[1]!);
      if (!(lines[i - 1] ?? '').trim().endsWith('*/')) missing.push(`${file.slice(SRC_DTS.length)}: ${match[1]}`);
    });
  }
  return missing;
}

/** The library's root export: the server, its options, its view and what observers are told, nothing more. */
const ROOT_EXPORTS = [
  'createServer', 'IosigServer', 'PlainDeviceLink', 'ServerOptions', 'ServerOptionsInput', 'ChannelInfo', 'ConnectionInfo',
  'DeviceKind', 'SignalInfo', 'TransportKind', 'MetricsSnapshot', 'Service', 'ServiceReply', 'ServiceHost', 'Caller',
  'CallRequest', 'MbpValue',
].sort();

/** The members of the server view the README describes. */
const SERVER_MEMBERS = [
  'ready', 'wsPort', 'congPort', 'mqttPort', 'events', 'metrics', 'connectionList', 'channelList', 'connectionPage', 'channelPage',
  'sendSignal', 'sendServerSignal', 'signal', 'attach', 'reloadKeys', 'revalidateSessions', 'reloadAccess', 'connectInMemory',
  'connectPlain', 'close',
].sort();

/** The broker's insides: none may reach a declaration the root entry publishes. */
const SERVER_INTERNALS = [
  'Broker', 'BrokerViews', 'Router', 'Registry', 'Connection', 'SessionPort', 'SecureChannel', 'BrokerCluster', 'MemoryLink',
  'PlainLink', 'WorkerPrimary', 'SealPool', 'LoginFlow', 'startServer', 'Door', 'DeliveryGroup', 'Outbound',
];

describe('published library types (iosig, iosig/protocol .d.ts)', () => {
  it('the root exports exactly the documented library API', async () => {
    const source = await readFile(join(SRC_DTS, 'index.d.ts'), 'utf8');
    const names = [...source.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((m) => m[1]!.split(',').map((n) => n.replace(/^\s*type\s+/, '').trim()).filter(Boolean));
    assert.deepEqual(names.sort(), ROOT_EXPORTS);
  });

  it('IosigServer declares exactly the documented members, each with a doc comment', async () => {
    const source = await readFile(join(SRC_DTS, 'server-view.d.ts'), 'utf8');
    const start = source.indexOf('export interface IosigServer {');
    assert.notEqual(start, -1, 'IosigServer is declared');
    const body = source.slice(start, source.indexOf('\n}', start)).split('\n').slice(1);
    const members: Array<{ name: string; documented: boolean }> = [];
    body.forEach((line, i) => {
      const match = /^ {4}(?:readonly )?([A-Za-z_$][\w$]*)\??\s*[(:<]/.exec(line);
      if (match) members.push({ name: match[1]!, documented: (body[i - 1] ?? '').trim().endsWith('*/') });
    });
    assert.deepEqual(members.map((m) => m.name).sort(), SERVER_MEMBERS);
    assert.deepEqual(members.filter((m) => !m.documented).map((m) => m.name), [], 'members without a doc comment');
  });

  it('every declaration reachable from iosig and iosig/protocol is documented, and no broker internal is', async () => {
    const root = await reachable('index.d.ts');
    const protocol = await reachable('protocol/index.d.ts');
    assert.deepEqual(undocumented(root), []);
    assert.deepEqual(undocumented(protocol), []);
    for (const [file, source] of root) {
      const code = source.replace(/\/\*\*[\s\S]*?\*\//g, '');
      for (const name of SERVER_INTERNALS) assert.doesNotMatch(code, new RegExp(`\\b${name}\\b`), `${file.slice(SRC_DTS.length)} exposes ${name}`);
    }
  });

  it('a strict consumer compiles against iosig and iosig/protocol and cannot reach the broker', async () => {
    assertCompiles(await consumerErrors(), 'library-consumer.ts');
  });
});

/** A consumer of iosig/client: the public members work, every internal name is out of reach. */
function clientConsumer(): string {
  const entry = join(DTS_DIR, 'index.js');
  return [
    `import { IoClient, CallError, parseServerUrl, type IoClientOptions, type SignalMessage } from ${JSON.stringify(entry)};`,
    `const options: IoClientOptions = { autoConnect: false, encMode: 'auto' };`,
    `const client = new IoClient('cong://127.0.0.1:1', options);`,
    `client.on('message', (message: SignalMessage) => message.tag);`,
    `const states: string[] = [client.state, parseServerUrl('ws://h:1').href, String(new CallError('a', 'b', 255, undefined).status)];`,
    ...INTERNAL_NAMES.filter((name) => /^[a-z]/.test(name)).flatMap((name) => [`// @ts-expect-error ${name} is not public`, `client.${name};`]),
    'export { states };',
  ].join('\n');
}

/** A consumer of iosig and iosig/protocol: the library API works, the broker is out of reach. */
function libraryConsumer(): string {
  const root = join(SRC_DTS, 'index.js');
  const protocol = join(SRC_DTS, 'protocol', 'index.js');
  return [
    `import { createServer, type IosigServer, type ServerOptionsInput, type ConnectionInfo, type Service } from ${JSON.stringify(root)};`,
    `import { MSG, PAYLOAD, encodeSignal } from ${JSON.stringify(protocol)};`,
    `const options: ServerOptionsInput = { port: 0, congPort: 0, duplicateLogin: 'replace', slowConsumer: 'drop', useQuota: { signalSize: true } };`,
    `const service: Service = { name: 'x', commands: ['y'], checkPermission: () => true, call: () => ({ status: 0 }) };`,
    'async function use(): Promise<number> {',
    '  const server: IosigServer = await createServer({ ...options, services: [service] });',
    '  server.events.on(\'connection\', (info: ConnectionInfo) => info.cid);',
    '  const sent = server.sendSignal(\'lights\', PAYLOAD.TEXT, encodeSignal(\'a\', PAYLOAD.TEXT, Buffer.from(\'on\')));',
    ...['broker', 'views', 'router', 'connections', 'keyStore', 'cluster', 'sealPool', 'options', 'services'].flatMap((name) => [`  // @ts-expect-error ${name} is not public`, `  server.${name};`]),
    '  // @ts-expect-error internal options are not public',
    '  void createServer({ port: 0, clock: undefined });',
    '  await server.close();',
    '  return sent + server.metrics().deliveries + MSG.SIGNAL;',
    '}',
    'export { use };',
  ].join('\n');
}

let compiled: Promise<string[]> | null = null;

/**
 * Both strict consumers compiled by one tsc run (a compiler start is most of the cost): the error lines it printed,
 * none when both compile.
 */
function consumerErrors(): Promise<string[]> {
  compiled ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'iosig-dts-'));
    try {
      await writeFile(join(dir, 'client-consumer.ts'), clientConsumer());
      await writeFile(join(dir, 'library-consumer.ts'), libraryConsumer());
      await writeFile(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: false,
            types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')],
          },
          files: ['client-consumer.ts', 'library-consumer.ts'],
        }),
      );
      const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
      const failed = await promisify(execFile)(tsc, ['-p', 'tsconfig.json'], { cwd: dir, timeout: 120_000 }).then(
        () => null,
        (err: { stdout?: string }) => err.stdout || String(err),
      );
      return failed === null ? [] : failed.split('\n').filter((line) => line.trim() !== '');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return compiled;
}

/** `consumer` compiles: no error line names it, and none names a declaration file either (the other consumer's own lines aside). */
function assertCompiles(errors: string[], consumer: string): void {
  const other = consumer === 'client-consumer.ts' ? 'library-consumer.ts' : 'client-consumer.ts';
  const mine = errors.filter((line) => !line.startsWith(other) && !line.startsWith(' '));
  assert.deepEqual(mine, [], `${consumer} does not compile:\n${errors.join('\n')}`);
}
