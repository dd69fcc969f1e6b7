// Issue 9 item 1: no client input ends the process. Messages held during a login are bounded, and every entry
// point that runs connection code (socket callbacks, timers, login continuations, key-store look-ups, CALLs)
// is contained: an unexpected error closes that one connection, is logged and counted.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { MSG, PAYLOAD } from '../../src/protocol/codes.js';
import { encodeFrame } from '../../src/protocol/congsocket.js';
import { encodeSignal } from '../../src/protocol/messages.js';
import type { DeviceRecord, KeyStore } from '../../src/auth/key-store.js';
import { ClientPool, type Transport } from '../kit/raw-client.js';
import { waitFor } from '../kit/wait.js';
import { portOf, startServer, type IosigServer } from '../kit/server.js';
import { openPeer } from '../kit/peer.js';
import { inside } from '../kit/inside.js';
import { sub } from '../kit/messages.js';

const TRANSPORTS: readonly Transport[] = ['ws', 'cong'];
const FLOOD_FRAMES = 125_000;

/** Uncaught errors of this test process: the server runs in it, so one of these means the broker would have died. */
const escaped: string[] = [];
const onUncaught = (err: unknown): void => void escaped.push(`uncaught: ${err instanceof Error ? err.stack : String(err)}`);
const onRejection = (err: unknown): void => void escaped.push(`unhandled rejection: ${err instanceof Error ? err.stack : String(err)}`);

/** Two connections that are not the attacker still exchange a message on a fresh channel. */
/** A read-only key store whose every lookup answers `record(id)`: a hostile or broken backend. */
function storeAnswering(record: (id: string) => DeviceRecord): KeyStore {
  return {
    kind: 'param',
    lookup: async (id) => record(id),
    add: async () => undefined,
    remove: async () => false,
    list: async () => [],
    close: async () => undefined,
  };
}

async function othersStillServed(server: IosigServer, pool: ClientPool, round: string): Promise<void> {
  const a = await pool.ready('ws', portOf(server, 'ws'));
  const b = await pool.ready('cong', portOf(server, 'cong'));
  a.send(sub(`alive-${round}`));
  b.send(sub(`alive-${round}`));
  await a.sync();
  await b.sync();
  const msg = encodeSignal(`alive-${round}`, PAYLOAD.TEXT, Buffer.from('still here\0'));
  a.send(msg);
  assert.deepEqual(await b.next(3000), msg, 'ws → cong delivery after the attack');
}

describe('containment: hostile input never ends the process', () => {
  let server: IosigServer;
  const lines: string[] = [];
  const pool = new ClientPool();

  before(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onRejection);
    server = await startServer({ authFailDelay: 150 }, lines);
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    await server.close();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
  });

  for (const kind of TRANSPORTS) {
    it(`two truncated AUTH_REQs then ${FLOOD_FRAMES} one-byte frames: attacker closed, server up, others served (${kind})`, async () => {
      const attacker = await pool.open(kind, portOf(server, kind));
      await attacker.next(); // SERVER_TIME_NONCE
      await attacker.next(); // SERVER_READY
      const truncated = Buffer.from([MSG.AUTH_REQ]);
      const echo = Buffer.from([MSG.ECHO]);
      if (kind === 'cong') {
        const one = encodeFrame(echo);
        const flood = Buffer.alloc(2 * 3 + FLOOD_FRAMES * one.length);
        encodeFrame(truncated).copy(flood, 0);
        encodeFrame(truncated).copy(flood, 3);
        for (let i = 0; i < FLOOD_FRAMES; i++) one.copy(flood, 6 + i * one.length);
        attacker.sendRaw(flood);
      } else {
        attacker.send(truncated);
        attacker.send(truncated);
        for (let i = 0; i < FLOOD_FRAMES; i++) attacker.send(echo);
      }
      // The hold is bounded: the flooder is closed (or at worst finishes its refusals) well before any replay.
      await attacker.waitClosed(15_000);
      // Past the refusal delay, when today's replay would run: the broker is up and serves others.
      await new Promise((resolve) => setTimeout(resolve, 400));
      await othersStillServed(server, pool, `flood-${kind}`);
      assert.deepEqual(escaped, [], 'no error escaped to the process');
      assert.ok(lines.some((line) => /login/.test(line) && /flood|held/.test(line)), 'the reason is logged');
    });
  }

  it('a key store answering a malformed record (cid not a string) costs that login only, counted as internal error', async () => {
    const hostile = storeAnswering((id) => ({ id, key: 'k', cid: 42 as unknown as string, level: 3 }));
    const saved = inside(server).keyStore;
    inside(server).keyStore = hostile;
    try {
      const before = server.metrics().internalErrors;
      for (const kind of TRANSPORTS) {
        const peer = await openPeer(pool, server, kind);
        peer.wire.send(peer.authReq('dev', 'k'));
        await peer.wire.waitClosed(3000);
      }
      await waitFor(() => server.metrics().internalErrors - before === 2, 2000, 'two internal errors counted');
      await othersStillServed(server, pool, 'keystore');
      assert.deepEqual(escaped, [], 'no error escaped to the process');
    } finally {
      inside(server).keyStore = saved;
    }
  });

  it('an error while admitting a login (a record whose name throws) closes that connection only', async () => {
    const poison = { toString: (): string => { throw new Error('poisoned name'); } };
    const hostile = storeAnswering((id) => ({ id, key: 'k', cid: 'POISON', level: 3, name: poison as unknown as string }));
    const saved = inside(server).keyStore;
    inside(server).keyStore = hostile;
    try {
      const before = server.metrics().internalErrors;
      const peer = await openPeer(pool, server, 'cong');
      peer.wire.send(peer.authReq('dev', 'k'));
      await peer.wire.waitClosed(3000);
      await waitFor(() => server.metrics().internalErrors - before === 1, 2000, 'one internal error counted');
      assert.ok(lines.some((line) => line.includes('poisoned name')), 'the error is logged with its connection');
      await othersStillServed(server, pool, 'admit');
      assert.deepEqual(escaped, [], 'no error escaped to the process');
    } finally {
      inside(server).keyStore = saved;
    }
  });
});
