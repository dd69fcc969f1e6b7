// The engine on a real TCP socket, driven by real third-party clients: MQTT.js 5 (protocol 4 and 5), Debian's
// mosquitto_pub / mosquitto_sub / mosquitto_rr (3.1.1 and 5) and python3-paho-mqtt (3.1.1 and 5).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { CHILD_PROCESS_DEADLINE_MS, waitFor, withTimeout } from '../kit/wait.js';
import { startMqttTcp, type MqttTcpServer } from './tcp-server.js';
import { startServer } from '../../src/server.js';
import { needs, tool } from '../kit/tools.js';
import { ROOT } from '../kit/server.js';


interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<number | null>;
}

function start(cmd: string, args: string[]): Run {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { child, stdout: '', stderr: '', exit: new Promise((resolve) => child.on('close', (code) => resolve(code))) };
  child.stdout!.on('data', (c: Buffer) => {
    run.stdout += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    run.stderr += c.toString();
  });
  return run;
}

async function finished(run: Run, what: string): Promise<string> {
  try {
    const code = await withTimeout(run.exit, CHILD_PROCESS_DEADLINE_MS, what);
    assert.equal(code, 0, `${what} exited ${code}: ${run.stderr}`);
    return run.stdout;
  } finally {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
  }
}

/** A broker the clients talk to: the engine on its in-memory broker, or iosig's own `-M` listener. */
interface Target {
  port: number;
  subscriptions(): number;
  close(): Promise<void>;
}

const TARGETS: ReadonlyArray<[name: string, start: () => Promise<Target>]> = [
  [
    'the engine on the in-memory broker',
    async () => {
      const server: MqttTcpServer = await startMqttTcp();
      return { port: server.port, subscriptions: () => server.broker.index.size, close: () => server.close() };
    },
  ],
  [
    'iosig (-M, on the broker with iosignal clients)',
    async () => {
      const server = await startServer({ port: 0, congPort: 0, mqttPort: 0, host: '127.0.0.1', log: () => {} });
      return { port: server.mqttPort!, subscriptions: () => server.mqtt!.port.subscriptionCount, close: () => server.close() };
    },
  ],
];

for (const [targetName, startTarget] of TARGETS) {
  async function withServer(fn: (server: Target) => Promise<void>): Promise<void> {
    const server = await startTarget();
    try {
      await fn(server);
    } finally {
      await server.close();
    }
  }

  const subscribed = (server: Target, count: number): Promise<void> => waitFor(() => server.subscriptions() >= count, CHILD_PROCESS_DEADLINE_MS, `${count} subscriptions`);

  describe(`MQTT with real clients over TCP: ${targetName}`, () => {
    for (const protocolVersion of [4, 5] as const) {
      it(`MQTT.js at protocol ${protocolVersion}: QoS 0/1/2, wildcards, retained, will`, async () => {
        await withServer(async (server) => {
          const url = `mqtt://127.0.0.1:${server.port}`;
          const options = { protocolVersion, reconnectPeriod: 0, connectTimeout: 5000 };
          const sub = await mqtt.connectAsync(url, { ...options, clientId: 'js-sub' });
          const pub = await mqtt.connectAsync(url, { ...options, clientId: 'js-pub' });
          try {
            await pub.publishAsync('sensor/kitchen/state', 'warm', { qos: 1, retain: true });
            const got: Array<[string, string, number, boolean]> = [];
            sub.on('message', (topic, payload, packet) => got.push([topic, payload.toString(), packet.qos, packet.retain]));
            await sub.subscribeAsync({ 'sensor/+/temp': { qos: 2 }, 'sensor/#': { qos: 1 }, 'wills/#': { qos: 1 } });
            await pub.publishAsync('sensor/kitchen/temp', '21.5', { qos: 2 });
            await pub.publishAsync('sensor/hall/temp', '19', { qos: 0 });
            const victim = await mqtt.connectAsync(url, { ...options, clientId: 'js-will', will: { topic: 'wills/js', payload: Buffer.from('lost'), qos: 1, retain: false } });
            victim.stream.destroy();
            await waitFor(() => got.length >= 4, 5000, 'four messages');
            assert.deepEqual(got.sort(), [
              ['sensor/hall/temp', '19', 0, false],
              ['sensor/kitchen/state', 'warm', 1, true],
              ['sensor/kitchen/temp', '21.5', 2, false],
              ['wills/js', 'lost', 1, false],
            ]);
          } finally {
            await Promise.all([sub.endAsync(), pub.endAsync()]);
          }
        });
      });
    }

    it('MQTT.js at protocol 5: user properties, response topic and correlation data, subscription identifiers, topic aliases', async () => {
      await withServer(async (server) => {
        const url = `mqtt://127.0.0.1:${server.port}`;
        const base = { protocolVersion: 5 as const, reconnectPeriod: 0 };
        const responder = await mqtt.connectAsync(url, { ...base, clientId: 'responder', properties: { topicAliasMaximum: 10 } });
        const requester = await mqtt.connectAsync(url, { ...base, clientId: 'requester', properties: { topicAliasMaximum: 10 } });
        try {
          const seen: unknown[] = [];
          responder.on('message', (_topic, payload, packet) => {
            const p = packet.properties ?? {};
            seen.push([{ ...p.userProperties }, p.subscriptionIdentifier]);
            responder.publish(p.responseTopic!, `re:${payload.toString()}`, { qos: 1, properties: { correlationData: p.correlationData! } });
          });
          await responder.subscribeAsync('rpc/+', { qos: 1, properties: { subscriptionIdentifier: 42 } });
          const answers: Array<[string, string]> = [];
          requester.on('message', (topic, payload, packet) => answers.push([topic, `${payload.toString()}|${packet.properties?.correlationData?.toString()}`]));
          await requester.subscribeAsync('$iosig/inbox/#', { qos: 1 });
          for (const n of [1, 2]) {
            await requester.publishAsync('rpc/echo', `call${n}`, {
              qos: 1,
              properties: { responseTopic: '$iosig/inbox/answers', correlationData: Buffer.from(`c${n}`), userProperties: { who: 'requester', n: String(n) } },
            });
          }
          await waitFor(() => answers.length === 2, 5000, 'two answers');
          assert.deepEqual(answers, [
            ['$iosig/inbox/answers', 're:call1|c1'],
            ['$iosig/inbox/answers', 're:call2|c2'],
          ]);
          assert.deepEqual(seen[0], [{ who: 'requester', n: '1' }, 42]);
        } finally {
          await Promise.all([responder.endAsync(), requester.endAsync()]);
        }
      });
    });

    for (const version of ['mqttv311', 'mqttv5'] as const) {
      it(`mosquitto_sub and mosquitto_pub (${version}): QoS 1 and 2, retained`, needs('mosquitto_pub', 'mosquitto_sub'), async () => {
        await withServer(async (server) => {
          const common = ['-h', '127.0.0.1', '-p', String(server.port), '-V', version];
          const retained = start(tool('mosquitto_pub'), [...common, '-t', 'status$', '-m', 'ready', '-r', '-q', '1']);
          await finished(retained, 'mosquitto_pub -r');
          const sub = start(tool('mosquitto_sub'), [...common, '-i', `sub-${version}`, '-t', 'sensor/#', '-t', 'status$', '-q', '2', '-v', '-C', '3']);
          await subscribed(server, 2);
          await finished(start(tool('mosquitto_pub'), [...common, '-t', 'sensor/temp', '-m', '21.5', '-q', '1']), 'mosquitto_pub -q 1');
          await finished(start(tool('mosquitto_pub'), [...common, '-t', 'sensor/door', '-m', 'open', '-q', '2']), 'mosquitto_pub -q 2');
          const out = await finished(sub, 'mosquitto_sub');
          assert.deepEqual(out.trim().split('\n'), ['status$ ready', 'sensor/temp 21.5', 'sensor/door open']);
        });
      });
    }

    it('mosquitto_rr (MQTT 5 request/response) through an MQTT.js responder', needs('mosquitto_rr'), async () => {
      await withServer(async (server) => {
        const responder = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'rr-responder' });
        try {
          responder.on('message', (_t, payload, packet) => {
            responder.publish(packet.properties!.responseTopic!, `pong:${payload.toString()}`, { properties: { correlationData: packet.properties!.correlationData! } });
          });
          await responder.subscribeAsync('service/ping');
          const rr = start(tool('mosquitto_rr'), ['-h', '127.0.0.1', '-p', String(server.port), '-t', 'service/ping', '-e', 'replies/rr', '-m', 'hi', '-W', '10']);
          assert.equal((await finished(rr, 'mosquitto_rr')).trim(), 'pong:hi');
        } finally {
          await responder.endAsync();
        }
      });
    });

    for (const version of ['3', '5'] as const) {
      it(`python3-paho-mqtt (MQTT ${version === '3' ? '3.1.1' : '5'}) subscribes, publishes and receives`, needs('python3-paho-mqtt'), async () => {
        await withServer(async (server) => {
          const js = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.port}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'js-peer' });
          try {
            const fromPaho: string[] = [];
            js.on('message', (_t, payload) => fromPaho.push(payload.toString()));
            await js.subscribeAsync('paho/out', { qos: 1 });
            const paho = start(tool('python3-paho-mqtt'), [join(ROOT, 'test', 'mqtt', 'paho-client.py'), String(server.port), version, `paho-${version}`]);
            await waitFor(() => paho.stdout.includes('"published"'), CHILD_PROCESS_DEADLINE_MS, `paho publishing (${paho.stderr})`);
            await js.publishAsync('paho/in', 'hello from MQTT.js', { qos: 1 });
            const events = (await finished(paho, 'paho client')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
            assert.deepEqual(events, [{ connected: 0 }, { subscribed: [1] }, { published: true }, { topic: 'paho/in', payload: 'hello from MQTT.js', qos: 1 }, { done: true }]);
            await waitFor(() => fromPaho.length === 1, 5000, 'the message from paho');
            assert.deepEqual(fromPaho, ['hello from paho']);
          } finally {
            await js.endAsync();
          }
        });
      });
    }
  });
}
