// Issue 16 item 4, from outside: io-server under `ulimit -n 1024`, 1100 idle TCP sockets from one address
// (127.0.0.2) that send nothing, and legitimate clients from another (127.0.0.3), on every listener kind:
// ws:// and wss:// (uWS terminates: its sockets are invisible until their request, so the descriptor guard
// pauses the listener before descriptors run out), CongSocket plain and over TLS, and the mutual-TLS front
// (node accepts: each socket counts from its accept and one address holds at most 64 still opening).
// Legitimate clients get in within a few seconds, the server does not spin (its event loop still sleeps between
// events), and it says what happened.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LimitedServer } from '../kit/limited-server.js';
import { idleFlood, settled, type IdleSocket } from '../kit/idle-socket.js';
import { connectRaw, type RawClient, type Transport } from '../kit/raw-client.js';
import { makePki, type TestPki } from '../kit/peer.js';
import type { WireTls } from '../kit/wire.js';

const FD_LIMIT = 1024;
const FLOOD = 1100;
/** A legitimate client must be served within this (the guard reacts within 100 ms; uWS frees idle sockets after ~10 s). */
const SERVED_WITHIN_MS = 6000;
/** CPU time of the server over a second (a generous bound: a spinning loop takes a whole core when it can). */
const MAX_CPU_SHARE = 0.5;
/** A live idle server sleeps and wakes about 50 times a second (its own timers); a spinning loop never sleeps. */
const MIN_SLEEPS_PER_SECOND = 5;

/** Connects from 127.0.0.3 and runs the opening (greeting, CID) until it works; the time it took, or a failure. */
async function servedWithin(kind: Transport, port: number, tls: WireTls | undefined, ms: number): Promise<number> {
  const start = Date.now();
  const failures: string[] = [];
  while (Date.now() - start < ms) {
    let client: RawClient | null = null;
    try {
      client = await connectRaw(kind, port, { localAddress: '127.0.0.3', connectTimeoutMs: 1500, ...(tls ? { tls } : {}) });
      await client.handshake();
      return Date.now() - start;
    } catch (err) {
      failures.push(err instanceof Error ? err.message : String(err));
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await client?.close(300);
    }
  }
  assert.fail(`${kind} client from 127.0.0.3 not served within ${ms} ms: ${[...new Set(failures)].join('; ')}`);
}

interface Scenario {
  server: () => LimitedServer;
  /** The port the idle sockets go to. */
  target: Transport;
  tls: () => WireTls | undefined;
  /** uWS terminates the flooded port: it is paused until uWS drops the idle sockets, so only the other port is checked. */
  paused?: boolean;
}

/** Floods `target`, then checks both ports serve 127.0.0.3, the loop does not spin, and what the log says. */
async function underFlood({ server, target, tls, paused = false }: Scenario, logLine: RegExp): Promise<IdleSocket[]> {
  const s = server();
  const port = target === 'ws' ? s.wsPort : s.congPort;
  const flood = await idleFlood(port, FLOOD, '127.0.0.2');
  // Refusing a thousand sockets is work (seconds on a loaded machine): judge the loop once it is done.
  const open = await settled(flood);
  const { sleepsPerSecond, cpuShare } = await s.loopActivity(1000);
  const cpu = `${(cpuShare * 100).toFixed(0)} % CPU, ${sleepsPerSecond.toFixed(0)} sleeps/s`;
  console.log(`# ${target} flood: ${open} idle sockets open, server ${s.openDescriptors()} descriptors, ${cpu}`);
  assert.ok(sleepsPerSecond >= MIN_SLEEPS_PER_SECOND, `the server's event loop does not sleep under the flood (it spins): ${cpu}`);
  assert.ok(cpuShare < MAX_CPU_SHARE, `the server is busy under the flood: ${cpu}`);
  const wsMs = paused ? null : await servedWithin('ws', s.wsPort, tls(), SERVED_WITHIN_MS);
  const congMs = await servedWithin('cong', s.congPort, tls(), SERVED_WITHIN_MS);
  console.log(`# served 127.0.0.3: cong in ${congMs} ms${wsMs === null ? '' : `, ws in ${wsMs} ms`}`);
  await s.logged(logLine, 5000);
  return flood;
}

/** The scenario needs bash's ulimit, /proc and more loopback addresses than 127.0.0.1: Linux. */
const SKIP = process.platform === 'linux' ? false : 'needs Linux (ulimit, /proc, 127.0.0.2 and 127.0.0.3)';

describe('descriptor floods from one address (ulimit -n 1024)', { timeout: 240_000, skip: SKIP }, () => {
  let pki: TestPki;
  let plain: LimitedServer;
  let tls: LimitedServer;
  let mutual: LimitedServer;
  const floods: IdleSocket[][] = [];
  const endFlood = (): void => {
    for (const socket of floods.splice(0).flat()) socket.destroy();
  };

  before(async () => {
    pki = makePki();
    [plain, tls, mutual] = await Promise.all([
      LimitedServer.start([], FD_LIMIT),
      LimitedServer.start(['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey], FD_LIMIT),
      LimitedServer.start(['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.caCert], FD_LIMIT),
    ]);
  });
  after(async () => {
    endFlood();
    await Promise.all([plain?.kill(), tls?.kill(), mutual?.kill()]);
    pki?.remove();
  });

  const serverTls = (): WireTls => ({ ca: pki.read(pki.caCert) });
  const clientTls = (): WireTls => ({ ca: pki.read(pki.caCert), cert: pki.read(pki.clientCert), key: pki.read(pki.clientKey) });
  const openingCap = /latest from 127\.0\.0\.2: over the cap of 64 sockets still opening per address/;

  it('CongSocket: silent sockets from one address hold at most 64 places; both ports serve another address', async () => {
    floods.push(await underFlood({ server: () => plain, target: 'cong', tls: () => undefined }, openingCap));
    endFlood();
  });

  it('ws://: the listener pauses before descriptors run out (no spin), CongSocket keeps serving, ws:// is back once they are free', async () => {
    floods.push(await underFlood({ server: () => plain, target: 'ws', tls: () => undefined, paused: true }, /stopped accepting on WebSocket port \d+ until some are free again/));
    endFlood();
    await servedWithin('ws', plain.wsPort, undefined, SERVED_WITHIN_MS);
    await plain.logged(/accepting again on WebSocket port \d+ after \d+ ms/, 5000);
  });

  it('CongSocket over TLS: silent sockets are counted from their accept and closed at the handshake deadline; both ports serve', async () => {
    floods.push(await underFlood({ server: () => tls, target: 'cong', tls: serverTls }, openingCap));
    endFlood();
  });

  it('wss:// (uWS terminates TLS): the listener pauses instead of spinning, CongSocket over TLS keeps serving, wss:// comes back', async () => {
    floods.push(await underFlood({ server: () => tls, target: 'ws', tls: serverTls, paused: true }, /stopped accepting on WebSocket port \d+ until some are free again/));
    endFlood();
    await servedWithin('ws', tls.wsPort, serverTls(), SERVED_WITHIN_MS);
  });

  it('mutual TLS: silent sockets at the WebSocket front hold at most 64 places; certificate holders get in on both ports', async () => {
    floods.push(await underFlood({ server: () => mutual, target: 'ws', tls: clientTls }, openingCap));
    endFlood();
  });
});
