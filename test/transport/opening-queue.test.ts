// The opening deadlines of one listener in one queue behind one timer (transport/opening.ts): only the sockets that
// are still silent at their deadline are ended, each once and in the order their deadlines fell; a socket that
// spoke or closed meanwhile leaves the queue at once; every place in the caps comes back when its socket closes.
// Stand-in sockets, the real Admission.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { Admission } from '../../src/guard/admission.js';
import { Stats } from '../../src/metrics/stats.js';
import { AcceptedSockets, type OpeningTarget } from '../../src/transport/opening.js';
import { waitFor } from '../kit/wait.js';

class StandInSocket extends EventEmitter {
  destroyed = false;
  constructor(
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    super();
  }
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    queueMicrotask(() => this.emit('close'));
    return this;
  }
}

function setUp(openingTimeout: number) {
  // A per-address cap of 1, so check() tells whether any socket still holds a place (enter() itself never refuses).
  const admission = new Admission({ maxConnections: 0, maxConnectionsPerAddress: 1, maxHandshakes: 0, maxHandshakesPerAddress: 0 });
  const stats = new Stats();
  const lines: string[] = [];
  const sockets = new AcceptedSockets((ip, socket) => admission.enter(ip, socket), openingTimeout, stats, (line) => lines.push(line), 'frame');
  const expired: number[] = [];
  const open = (port: number) => {
    const socket = new StandInSocket('127.0.0.9', port);
    const accepted = sockets.take(socket as unknown as net.Socket)!;
    const target: OpeningTarget = {
      expireOpening: () => {
        expired.push(port);
        socket.destroy();
      },
    };
    return { socket, accepted, target };
  };
  return { admission, stats, lines, sockets, expired, open };
}

describe('opening deadlines in one queue', () => {
  it('ends only the sockets still silent at their deadline, in order, once each; the others leave the queue', async () => {
    const { admission, stats, lines, expired, open } = setUp(60);
    const a = open(1);
    const b = open(2);
    const c = open(3);
    const d = open(4);
    const e = open(5);
    assert.equal(admission.openingCount, 5);
    for (const s of [a, b, c, d, e]) s.accepted.awaitFirst(s.target);
    b.accepted.opened(); // spoke in time: a connection now
    d.socket.destroy(); // went away before its deadline
    await waitFor(() => expired.length === 3 && admission.openingCount === 0, 5000, 'the silent sockets to be ended');
    assert.deepEqual(expired, [1, 3, 5]);
    assert.equal(stats.openingTimeouts, 3);
    assert.ok(lines.length >= 1 && /sent no frame within 60 ms/.test(lines[0]!), lines.join('\n'));
    // One socket open (b), in the caps until it closes.
    await waitFor(() => a.socket.destroyed && c.socket.destroyed && e.socket.destroyed, 1000, 'closes');
    assert.equal(admission.check('127.0.0.9'), 'address');
    b.socket.destroy();
    await waitFor(() => admission.check('127.0.0.9') === null && admission.openingCount === 0, 1000, 'places back');
    assert.equal(stats.openingTimeouts, 3);
  });

  it('a deadline set after the queue emptied still fires, and destroyAll ends the sockets not yet open', async () => {
    const { admission, sockets, expired, open } = setUp(40);
    const a = open(1);
    a.accepted.awaitFirst(a.target);
    a.accepted.opened();
    const b = open(2);
    b.accepted.awaitFirst(b.target);
    await waitFor(() => expired.length === 1, 5000, 'the second socket to be ended');
    assert.deepEqual(expired, [2]);
    const c = open(3); // taken on, its opening not started (a TLS handshake)
    const d = open(4);
    d.accepted.awaitFirst(d.target);
    sockets.destroyAll();
    assert.ok(c.socket.destroyed && d.socket.destroyed && !a.socket.destroyed);
    await waitFor(() => admission.openingCount === 0, 1000, 'places back');
    assert.deepEqual(expired, [2]);
  });
});
