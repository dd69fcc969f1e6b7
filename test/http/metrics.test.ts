// GET /metrics: Prometheus text that matches the broker's own counters after known traffic.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IosigServer } from '../../src/index.js';
import type { IoClient, SignalMessage } from '../../src/client/index.js';
import { waitFor } from '../kit/wait.js';
import { parsePrometheus, readyClient, request, sampleValue } from './support.js';
import { startServer } from '../kit/server.js';

const CHANNEL = 'metrics-room';
const PUBLISHES = 5;

describe('GET /metrics', () => {
  let server: IosigServer;
  const clients: IoClient[] = [];

  before(async () => {
    server = await startServer({ adminToken: 'metrics-secret' });
  });
  after(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  it('exposes connections, channels and traffic as the broker counted them', async () => {
    const wsReader = await readyClient(`ws://127.0.0.1:${server.wsPort}`);
    const congReader = await readyClient(`cong://127.0.0.1:${server.congPort}`);
    const publisher = await readyClient(`cong://127.0.0.1:${server.congPort}`);
    clients.push(wsReader, congReader, publisher);
    const received: SignalMessage[] = [];
    for (const reader of [wsReader, congReader]) {
      reader.on('message', (m) => received.push(m));
      reader.subscribe(CHANNEL);
      await reader.echo('subscribed');
    }
    for (let i = 0; i < PUBLISHES; i++) publisher.signal(CHANNEL, `hello ${i}`);
    await waitFor(() => received.length === PUBLISHES * 2, 3000, 'every delivery');

    // Counters are public: no token needed.
    const reply = await request(server.wsPort!, '/metrics');
    const expected = server.metrics();
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const scraped = parsePrometheus(reply.body);

    assert.equal(sampleValue(scraped, 'iosig_connections{transport="ws",auth="anonymous"}'), 1);
    assert.equal(sampleValue(scraped, 'iosig_connections{transport="cong",auth="anonymous"}'), 2);
    assert.equal(sampleValue(scraped, 'iosig_connections{transport="ws",auth="authorized"}'), 0);
    assert.equal(sampleValue(scraped, 'iosig_connections_accepted_total{transport="cong"}'), 2);
    assert.equal(sampleValue(scraped, 'iosig_channels'), 1);
    assert.equal(sampleValue(scraped, 'iosig_subscriptions'), 2);
    assert.equal(sampleValue(scraped, 'iosig_online_cids'), 3);
    assert.equal(sampleValue(scraped, 'iosig_publishes_total'), PUBLISHES);
    assert.equal(sampleValue(scraped, 'iosig_deliveries_total'), PUBLISHES * 2);
    assert.equal(sampleValue(scraped, 'iosig_dropped_deliveries_total'), 0);
    assert.equal(sampleValue(scraped, 'iosig_slow_consumer_closes_total'), 0);
    assert.equal(sampleValue(scraped, 'iosig_quota_violations_total'), 0);
    assert.equal(sampleValue(scraped, 'iosig_logins_total{result="fail"}'), expected.authFail);
    assert.equal(sampleValue(scraped, 'iosig_retained_signals{scope="channel"}'), expected.retainedChannel);
    assert.equal(sampleValue(scraped, 'iosig_messages_received_total'), expected.messagesIn);
    assert.equal(sampleValue(scraped, 'iosig_messages_sent_total'), expected.messagesOut);
    assert.equal(sampleValue(scraped, 'iosig_received_bytes_total'), expected.bytesIn);
    assert.equal(sampleValue(scraped, 'iosig_sent_bytes_total'), expected.bytesOut);
    assert.ok(expected.messagesIn >= PUBLISHES, 'the publishes were counted in');
    assert.ok(sampleValue(scraped, 'process_resident_memory_bytes') > 1024 * 1024);
    assert.ok(sampleValue(scraped, 'iosig_event_loop_lag_seconds{stat="max"}') >= 0);

    assert.equal(scraped.types.get('iosig_publishes_total'), 'counter');
    assert.equal(scraped.types.get('iosig_connections'), 'gauge');
    for (const [name, type] of scraped.types) {
      if (type === 'counter') assert.match(name, /_total$/, `${name} is a counter named *_total`);
    }
  });

  it('counts again on the next scrape rather than adding up', async () => {
    const first = parsePrometheus((await request(server.wsPort!, '/metrics')).body);
    const second = parsePrometheus((await request(server.wsPort!, '/metrics')).body);
    assert.equal(sampleValue(second, 'iosig_publishes_total'), sampleValue(first, 'iosig_publishes_total'));
  });
});
