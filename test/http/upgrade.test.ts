// The HTTP routes share the WebSocket port: iosignal clients must still reach the broker on any path.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { IosigServer } from '../../src/index.js';
import { MSG } from '../../src/protocol/codes.js';
import { withTimeout } from '../kit/wait.js';
import { request } from './support.js';
import { startServer } from '../kit/server.js';

/** The first binary message a WebSocket client gets on `path`. */
async function firstMessage(port: number, path: string): Promise<Buffer> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  try {
    return await withTimeout(
      new Promise<Buffer>((resolve, reject) => {
        socket.once('message', (data: Buffer) => resolve(data));
        socket.once('error', reject);
        socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      }),
      3000,
      `the first message on ${path}`,
    );
  } finally {
    socket.terminate();
  }
}

describe('WebSocket upgrades next to the HTTP routes', () => {
  let server: IosigServer;

  before(async () => {
    server = await startServer({ adminToken: 'upgrade-secret' });
  });
  after(async () => {
    await server.close();
  });

  for (const path of ['/', '/metrics', '/api/status', '/api/events', '/static/app.js', '/some/device/path']) {
    it(`a client connecting to ${path} gets SERVER_TIME_NONCE`, async () => {
      const nonce = await firstMessage(server.wsPort!, path);
      assert.equal(nonce.length, 13);
      assert.equal(nonce[0], MSG.SERVER_TIME_NONCE);
    });
  }

  it('still answers plain HTTP elsewhere with 426', async () => {
    assert.equal((await request(server.wsPort!, '/elsewhere')).status, 426);
  });

  it('serves the page and its modules', async () => {
    const page = await request(server.wsPort!, '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.match(page.body, /<script type="module" src="\/static\/app.js">/);
    const script = await request(server.wsPort!, '/static/app.js');
    assert.equal(script.status, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    assert.equal((await request(server.wsPort!, '/static/dashboard.css')).status, 200);
    assert.equal((await request(server.wsPort!, '/static/missing.js')).status, 404);
  });
});

describe('with http turned off', () => {
  let server: IosigServer;

  before(async () => {
    server = await startServer({ http: false });
  });
  after(async () => {
    await server.close();
  });

  it('has no /metrics', async () => {
    assert.equal((await request(server.wsPort!, '/metrics')).status, 426);
  });
});
