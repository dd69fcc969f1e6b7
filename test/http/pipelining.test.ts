// Pipelined HTTP requests on the WebSocket port (red team of issue 16, the stall class). uWS parses a whole socket
// read at once and calls a handler for every request in it in the same event-loop turn: one connection that wrote
// 700 KB of `GET /metrics` and never read cost about 1.4 s of CPU in one go. Now one address has at most
// HTTP_REQUESTS_PER_TURN requests answered per turn (the connection of the next is closed), every refusal on the
// port closes its connection, and overlapping /metrics scrapes share one text.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { IosigServer } from '../../src/index.js';
import { HTTP_REQUESTS_PER_TURN } from '../../src/http/request-budget.js';
import { startServer } from '../kit/server.js';

const REQUESTS = 3000;
const UPGRADE_HEADERS = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/**
 * Writes `count` pipelined requests in one go and reads until the server closes or resets the connection, until
 * `enough` answers came, or for 5 s: the statuses seen, and whether the server ended the connection.
 */
function pipeline(port: number, request: string, count: number, enough = count): Promise<{ statuses: string[]; closed: boolean; text: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const statusesOf = (text: string): string[] => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]!);
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ statuses: statusesOf(text), closed, text });
    };
    const timer = setTimeout(() => finish(false), 5000);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (statusesOf(Buffer.concat(chunks).toString('latin1')).length >= enough) finish(false);
    });
    socket.on('close', () => finish(true));
    // A reset (the budget closes the connection with requests still unread) ends it as well.
    socket.on('error', () => finish(true));
    socket.once('connect', () => socket.write(request.repeat(count)));
  });
}

describe('pipelined HTTP requests on the WebSocket port', () => {
  let server: IosigServer;

  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  for (const path of ['/metrics', '/api/status', '/', '/no-such-page']) {
    it(`answers at most ${HTTP_REQUESTS_PER_TURN} pipelined GET ${path} of one read, then closes the connection`, async () => {
      const { statuses, closed } = await pipeline(server.wsPort!, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, REQUESTS);
      assert.ok(closed, `the connection is closed (answered ${statuses.length} of ${REQUESTS})`);
      assert.ok(statuses.length <= HTTP_REQUESTS_PER_TURN, `answered ${statuses.length}`);
    });
  }

  it(`answers at most ${HTTP_REQUESTS_PER_TURN} refused upgrades pipelined in one read, then closes the connection`, async () => {
    const { statuses, closed } = await pipeline(server.wsPort!, `GET /plain/$bad HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEADERS}\r\n`, REQUESTS);
    assert.ok(closed, `the connection is closed (answered ${statuses.length} of ${REQUESTS})`);
    assert.ok(statuses.length <= HTTP_REQUESTS_PER_TURN, `answered ${statuses.length}`);
    assert.ok(statuses.every((status) => status === '400'));
  });

  it('pipelined scrapes in one turn share one complete text', async () => {
    const { text } = await pipeline(server.wsPort!, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n', 8, 8);
    const bodies = text.split(/HTTP\/1\.1 200 OK/).slice(1);
    assert.equal(bodies.length, 8);
    // The last may still be arriving.
    for (const body of bodies.slice(0, -1)) assert.match(body, /iosig_connections_total|iosig_connections /);
  });
});
