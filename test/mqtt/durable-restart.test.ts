// MQTT persistent sessions survive a real io-server process being killed (issue 20 "Done when"): a persistent
// subscriber goes away, a publisher sends QoS 1 messages and counts each PUBACK, the server is stopped with SIGKILL
// (or SIGTERM) while those publishes are under way, and started again on the same --data-dir. Messages published
// after the restart, while the subscriber is still away, are queued for it (its subscriptions were made again at
// the start), and when it comes back with clean session off it receives every message that was acknowledged —
// duplicates allowed (QoS 1), none lost. MQTT.js is the client on both sides.
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { watchChild, type WatchedChild } from '../kit/child-output.js';
import { CHILD_PROCESS_DEADLINE_MS, waitFor, withTimeout } from '../kit/wait.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'io-server.js');
const MQTT_LOCAL = /- Local: +mqtt:\/\/localhost:(\d+)/;
/** QoS 1 messages acknowledged before the stop (the publisher goes on until the process is gone). */
const ACKED_BEFORE_STOP = 120;
/** Publishes outstanding at once: the stop always falls among unacknowledged ones. */
const WINDOW = 16;
const AFTER_RESTART = 20;

interface Running {
  child: ChildProcess;
  out: WatchedChild;
  port: number;
}

const children = new Set<ChildProcess>();
const clients = new Set<MqttClient>();
const dirs: string[] = [];

async function start(dir: string): Promise<Running> {
  const child = spawn(process.execPath, [BIN, '-l', '0', '--host', '127.0.0.1', '-M', '0', '--data-dir', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out = watchChild(child);
  const match = await out.until(() => {
    const ended = out.exit();
    if (ended) throw new Error(`io-server exited (${ended.code ?? ended.signal})\n${out.out()}\n${out.err()}`);
    return (out.out() + out.err()).match(MQTT_LOCAL) ?? undefined;
  }, 'the banner', CHILD_PROCESS_DEADLINE_MS);
  return { child, out, port: Number(match[1]) };
}

async function stop(server: Running, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  server.child.kill(signal);
  const exit = await server.out.until(() => server.out.exit(), 'the exit of io-server', CHILD_PROCESS_DEADLINE_MS);
  children.delete(server.child);
  return exit;
}

/** `onMessage` is in place before the CONNACK: a resumed session's messages follow it at once. */
async function connect(port: number, options: IClientOptions, onMessage?: (topic: string) => void): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
  clients.add(client);
  if (onMessage) client.on('message', onMessage);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    }),
    CHILD_PROCESS_DEADLINE_MS,
    'CONNACK',
  );
  client.on('error', () => undefined); // a killed server: the test looks at what was acknowledged
  return client;
}

async function end(client: MqttClient): Promise<void> {
  clients.delete(client);
  await client.endAsync();
}

/**
 * Publishes `dur/<n>` at QoS 1, WINDOW at a time, until the connection is gone; `onAcked` sees each PUBACK.
 * Resolves with the acknowledged sequence numbers once the client has closed.
 */
function publishUntilGone(client: MqttClient, onAcked: (acked: number) => void): Promise<Set<number>> {
  const acked = new Set<number>();
  let next = 0;
  let gone = false;
  return new Promise((done) => {
    client.once('close', () => {
      gone = true;
      done(acked);
    });
    const one = (): void => {
      if (gone) return;
      const n = ++next;
      client.publish(`dur/${n}`, `m${n}`, { qos: 1 }, (err) => {
        if (err || gone) return;
        acked.add(n);
        onAcked(acked.size);
        one();
      });
    };
    for (let i = 0; i < WINDOW; i++) one();
  });
}

describe('MQTT persistent sessions across a real io-server restart (--data-dir)', () => {
  afterEach(() => {
    for (const c of clients) c.end(true);
    clients.clear();
    for (const child of children) child.kill('SIGKILL');
    children.clear();
  });
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const cases: Array<{ signal: NodeJS.Signals; version: 4 | 5 }> = [
    { signal: 'SIGKILL', version: 4 },
    { signal: 'SIGKILL', version: 5 },
    { signal: 'SIGTERM', version: 5 },
  ];
  for (const { signal, version } of cases) {
    it(`${signal} in the middle of QoS 1 traffic (MQTT ${version === 4 ? '3.1.1' : '5'}): every acknowledged message reaches the persistent subscriber after the restart, subscriptions kept`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'iosig-mqtt-durable-'));
      dirs.push(dir);
      const persistent: IClientOptions =
        version === 4 ? { protocolVersion: 4, clean: false, clientId: 'durable-sub' } : { protocolVersion: 5, clean: false, clientId: 'durable-sub', properties: { sessionExpiryInterval: 3600 } };

      let server = await start(dir);
      const first = await connect(server.port, persistent);
      await first.subscribeAsync({ 'dur/#': { qos: 1 }, 'later/+': { qos: 1 } });
      await end(first); // offline: its session queues from now on

      const publisher = await connect(server.port, { protocolVersion: 5, clientId: 'durable-pub' });
      // Retained messages: kept in the store as they are set; an empty payload clears.
      await publisher.publishAsync('state/lamp', 'on', { qos: 1, retain: true });
      await publisher.publishAsync('state/old', 'gone soon', { qos: 1, retain: true });
      await publisher.publishAsync('state/old', '', { qos: 1, retain: true });
      let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
      const acked = await withTimeout(
        publishUntilGone(publisher, (n) => {
          if (n === ACKED_BEFORE_STOP && stopping === null) stopping = stop(server, signal);
        }),
        CHILD_PROCESS_DEADLINE_MS,
        `${ACKED_BEFORE_STOP} acknowledgements, then the server's end`,
      );
      const exit = await stopping!;
      clients.delete(publisher);
      if (signal === 'SIGKILL') assert.equal(exit.signal, 'SIGKILL');
      else assert.equal(exit.code, 0, 'SIGTERM: a clean exit');
      assert.ok(acked.size >= ACKED_BEFORE_STOP, `acknowledged before the stop: ${acked.size}`);

      server = await start(dir);
      assert.match(server.out.out() + server.out.err(), /1 persistent sessions read back/);
      // Still away: what is published now is queued because its subscriptions were made again at the start.
      const late = await connect(server.port, { protocolVersion: 4, clientId: 'late-pub' });
      for (let i = 1; i <= AFTER_RESTART; i++) await late.publishAsync(`later/${i}`, `l${i}`, { qos: 1 });
      await end(late);

      const received = new Map<string, number>();
      const back = await connect(server.port, persistent, (topic) => received.set(topic, (received.get(topic) ?? 0) + 1));
      const missing = (): string[] => {
        const out: string[] = [];
        for (const n of acked) if (!received.has(`dur/${n}`)) out.push(`dur/${n}`);
        for (let i = 1; i <= AFTER_RESTART; i++) if (!received.has(`later/${i}`)) out.push(`later/${i}`);
        return out;
      };
      await waitFor(() => missing().length === 0, CHILD_PROCESS_DEADLINE_MS, 'every acknowledged message').catch((err: unknown) => {
        throw new Error(`${String(err)}; missing ${missing().length} of ${acked.size + AFTER_RESTART}: ${missing().slice(0, 20).join(' ')}`);
      });
      // Nothing but what was published reached it.
      for (const topic of received.keys()) assert.match(topic, /^(dur\/\d+|later\/\d+)$/);
      await end(back);

      const retained: Array<[string, string]> = [];
      const reader = await connect(server.port, { protocolVersion: 5, clientId: 'retained-reader' });
      reader.on('message', (topic, payload, packet) => {
        if (packet.retain) retained.push([topic, payload.toString()]);
      });
      await reader.subscribeAsync('state/#', { qos: 1 });
      await waitFor(() => retained.length >= 1, CHILD_PROCESS_DEADLINE_MS, 'the retained message after the restart');
      await reader.subscribeAsync('sync/none', { qos: 1 }); // its SUBACK comes after every retained message of state/#
      assert.deepEqual(retained, [['state/lamp', 'on']], 'the retained message is back; the cleared one is not');
      await end(reader);
      await stop(server, 'SIGTERM');
    });
  }
});
