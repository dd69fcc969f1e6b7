// Issue 16 item 2, on a real `io-server --workers 2` host over a real redis-server: a primary whose workers keep
// dying backs off and keeps serving; it never exits 0 on its own (it used to give up after ten restarts in a minute).
import { afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redisSkipReason } from '../kit/redis-server.js';
import { ClientPool } from '../kit/raw-client.js';
import { type WorkerHost, metricValue, workerHostFixture } from './workers-support.js';
import { sleep, waitFor } from '../kit/wait.js';

describe('io-server --workers 2: a crash loop backs off and the host keeps serving', { skip: redisSkipReason() }, () => {
  // A short back-off cap: the streak and its log line are the same, the thirteen restarts wait less.
  const fixture = workerHostFixture('loop', ['--worker-restart-max', '50']);
  let host: WorkerHost;
  const pool = new ClientPool();

  before(() => {
    host = fixture.host;
  });
  afterEach(() => pool.closeAll());

  /** The workers' /metrics once every one shows `ok` (the primary tells them its figures over IPC). */
  async function figuresOnEveryWorker(ok: (body: string) => boolean): Promise<string[]> {
    const end = Date.now() + 5000;
    for (;;) {
      const bodies = await host.scrapeEach();
      if (bodies.every(ok) || Date.now() > end) return bodies;
      await sleep(50);
    }
  }

  async function servesBothPorts(): Promise<void> {
    try {
      const ws = await pool.ready('ws', host.wsPort);
      const cong = await pool.ready('cong', host.congPort);
      assert.ok(ws.cid && cong.cid);
    } catch (err) {
      await sleep(200);
      const exited = host.node.exited;
      throw new Error(`the host did not serve both ports (${String(err)}); the primary ${exited ? `exited with ${exited.code ?? exited.signal}` : 'is alive'}:\n${host.lines.slice(-4).join('\n')}`);
    } finally {
      await pool.closeAll();
    }
  }

  it('passes SIGHUP (reload the keys) on to the workers instead of dying of it', async () => {
    const pids = host.workerPids();
    process.kill(host.node.pid, 'SIGHUP');
    await waitFor(() => host.node.exited !== null || host.lines.some((line) => /SIGHUP passed to 2 workers/.test(line)), 5000, 'the SIGHUP to be handled');
    assert.equal(host.node.exited, null, 'the primary is alive');
    await sleep(300);
    assert.deepEqual(host.workerPids(), pids, 'the same workers serve on');
    await servesBothPorts();
  });

  it('survives eleven worker deaths in a row, serving with the live worker meanwhile', async () => {
    const started = Date.now();
    for (let death = 1; death <= 11; death++) {
      // Both serve; the older one dies (so the two take turns), and the other serves both ports meanwhile.
      await host.waitAllServing(1 + death);
      await host.killWorker();
      await servesBothPorts();
      assert.equal(host.node.exited, null, `the primary is alive after death ${death}`);
    }
    console.log(`# 11 worker deaths in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await host.waitAllServing(2 + 11);
    await servesBothPorts();
    assert.equal(host.node.exited, null, 'the primary is alive');
    assert.ok(host.lines.some((line) => /death \d+ in a row: backing off/.test(line)), 'the log says it backs off');
    assert.ok(!host.lines.some((line) => /stopping/.test(line)), host.lines.join('\n'));
    // The primary's figures, on every worker's /metrics.
    const bodies = await figuresOnEveryWorker((body) => metricValue(body, 'iosig_workers', { state: 'up' }) === 2);
    for (const body of bodies) {
      assert.equal(metricValue(body, 'iosig_worker_restarts_total'), 11);
      assert.equal(metricValue(body, 'iosig_workers', { state: 'wanted' }), 2);
    }
  });

  it('keeps trying when every worker dies, and serves again', async () => {
    const starts = host.servingStarts;
    await Promise.all(host.workerPids().map((pid) => host.killWorker(pid)));
    await waitFor(() => host.lines.some((line) => /no worker is serving/.test(line)), 5000, 'the primary to say nobody serves');
    await host.waitAllServing(starts + 2);
    await servesBothPorts();
    assert.equal(host.node.exited, null, 'the primary is alive');
    const bodies = await figuresOnEveryWorker((body) => metricValue(body, 'iosig_workers', { state: 'up' }) === 2);
    for (const body of bodies) assert.equal(metricValue(body, 'iosig_worker_restarts_total'), 13);
  });
});
