// GET /api/status and POST /api/signal: what the admin token opens, and the read-only loopback mode.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IosigServer } from '../../src/index.js';
import type { IoClient, SignalMessage } from '../../src/client/index.js';
import type { StatusBody } from '../../src/http/dashboard-types.js';
import { waitFor } from '../kit/wait.js';
import { postJson, readyClient, request } from './support.js';
import { startServer } from '../kit/server.js';

const TOKEN = 'status-secret';
const AUTH = { authorization: `Bearer ${TOKEN}` };

describe('with an admin token', () => {
  let server: IosigServer;
  let device: IoClient;

  before(async () => {
    server = await startServer({ adminToken: TOKEN });
    device = await readyClient(`cong://127.0.0.1:${server.congPort}`);
    device.subscribe('lobby');
    await device.echo('subscribed');
  });
  after(async () => {
    device.close();
    await server.close();
  });

  it('refuses /api/status without the token, or with a wrong one', async () => {
    const none = await request(server.wsPort!, '/api/status');
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    const wrong = await request(server.wsPort!, '/api/status', { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(none.body + wrong.body, new RegExp(device.cid.replace(/[?]/g, '\\?')));
  });

  it('lists connections and channels with the token', async () => {
    const reply = await request(server.wsPort!, '/api/status', { headers: AUTH });
    assert.equal(reply.status, 200);
    const status = JSON.parse(reply.body) as StatusBody;
    assert.equal(status.access, 'admin');
    assert.equal(status.metrics.connections, 1);
    assert.equal(status.metrics.connectionsByState.congAnonymous, 1);
    const listed = status.connections.find((c) => c.cid === device.cid);
    assert.ok(listed, 'the device is listed');
    assert.equal(listed.transport, 'cong');
    assert.deepEqual(listed.channels, ['CH:lobby']);
    assert.deepEqual(status.channels, [{ key: 'CH:lobby', subscribers: 1, retained: false }]);
  });

  it('sends a signal to a channel, to one CID and to everyone', async () => {
    const got: SignalMessage[] = [];
    device.on('message', (m) => got.push(m));
    const toChannel = await postJson(server.wsPort!, '/api/signal', { target: 'channel', tag: 'lobby', payloadKind: 'text', payload: 'hi all' }, AUTH);
    assert.deepEqual(JSON.parse(toChannel.body), { receivers: 1 });
    const toCid = await postJson(
      server.wsPort!,
      '/api/signal',
      { target: 'cid', cid: device.cid, topic: 'note', payloadKind: 'json', payload: '{"n":1}' },
      AUTH,
    );
    assert.deepEqual(JSON.parse(toCid.body), { receivers: 1 });
    const toEveryone = await postJson(server.wsPort!, '/api/signal', { target: 'everyone', tag: 'broadcast', payload: 'to all' }, AUTH);
    assert.deepEqual(JSON.parse(toEveryone.body), { receivers: 1 });
    await waitFor(() => got.length === 3, 3000, 'three signals');
    assert.deepEqual(
      got.map((m) => [m.tag, m.values[0]]),
      [
        ['lobby', 'hi all'],
        ['@note', { n: 1 }],
        ['broadcast', 'to all'],
      ],
    );
  });

  it('refuses sending without the token and bad requests with it', async () => {
    const body = { target: 'channel', tag: 'lobby', payload: 'x' };
    assert.equal((await postJson(server.wsPort!, '/api/signal', body)).status, 401);
    const bad = await postJson(server.wsPort!, '/api/signal', { target: 'channel', tag: '#home', payload: 'x' }, AUTH);
    assert.equal(bad.status, 400);
    const notJson = await postJson(server.wsPort!, '/api/signal', { target: 'cid', cid: 'x', topic: 't', payloadKind: 'json', payload: '{' }, AUTH);
    assert.equal(notJson.status, 400);
    const garbage = await request(server.wsPort!, '/api/signal', { method: 'POST', body: '{', headers: { ...AUTH, 'content-type': 'application/json' } });
    assert.equal(garbage.status, 400);
    const form = await request(server.wsPort!, '/api/signal', { method: 'POST', body: 'a=b', headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.status, 415);
  });
});

describe('without an admin token', () => {
  let server: IosigServer;

  before(async () => {
    server = await startServer({ adminToken: null });
  });
  after(async () => {
    await server.close();
  });

  it('lets loopback clients read', async () => {
    const reply = await request(server.wsPort!, '/api/status');
    assert.equal(reply.status, 200);
    assert.equal((JSON.parse(reply.body) as StatusBody).access, 'read');
  });

  it('does not trust a relayed request to be local', async () => {
    const reply = await request(server.wsPort!, '/api/status', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(reply.status, 403);
  });

  it('never sends', async () => {
    const reply = await postJson(server.wsPort!, '/api/signal', { target: 'everyone', tag: 'x', payload: 'y' }, { authorization: 'Bearer anything' });
    assert.equal(reply.status, 403);
    assert.match(reply.body, /no admin token/);
  });
});
