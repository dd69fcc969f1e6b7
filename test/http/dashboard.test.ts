// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { IosigServer } from '../../src/index.js';
import type { IoClient, SignalMessage } from '../../src/client/index.js';
import { waitFor } from '../kit/wait.js';
import { launchChromium } from '../kit/browser.js';
import { needs } from '../kit/tools.js';
import { TEST_OUTPUT, readyClient } from './support.js';
import { startServer } from '../kit/server.js';

const TOKEN = 'dashboard-secret';
const UI_WAIT_MS = 5000;

describe('dashboard in Chromium', needs('chromium'), () => {
  let server: IosigServer;
  let browser: Browser;
  const clients: IoClient[] = [];

  before(async () => {
    server = await startServer({ adminToken: TOKEN });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    for (const client of clients.splice(0)) client.close();
    await server?.close();
  });

  async function openPage(hash = ''): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(UI_WAIT_MS);
    await page.goto(`http://127.0.0.1:${server.wsPort}/${hash}`);
    return page;
  }

  it('shows counters only without the token', async () => {
    const page = await openPage();
    await page.locator('#access', { hasText: 'counters only' }).waitFor();
    assert.equal(await page.locator('#devices-locked').isVisible(), true);
    assert.equal(await page.locator('#send-button').isDisabled(), true);
    await page.locator('#counters .card').first().waitFor();
    assert.equal(await page.locator('#cluster-panel').isVisible(), false, 'a single node draws no cluster panel');
    await page.close();
  });

  it('lists a CongSocket device, sends it a signal from the form, and writes a screenshot', async () => {
    const page = await openPage(`#token=${TOKEN}`);
    await page.locator('#access', { hasText: 'admin' }).waitFor();
    await page.locator('#feed-state.live').waitFor();

    const device = await readyClient(`cong://127.0.0.1:${server.congPort}`);
    const sensor = await readyClient(`ws://127.0.0.1:${server.wsPort}`);
    clients.push(device, sensor);
    device.subscribe('lights');
    await device.echo('subscribed');
    const received: SignalMessage[] = [];
    device.on('message', (m) => received.push(m));
    for (let i = 0; i < 3; i++) sensor.signal('lights', { level: 40 + i * 10 });
    await waitFor(() => received.length === 3, UI_WAIT_MS, 'the sensor readings');

    await page.locator(`#devices tr[data-cid="${device.cid}"]`).waitFor();
    await page.locator('#channels td', { hasText: 'CH:lights' }).waitFor();
    await page.locator('#tail td', { hasText: 'lights' }).first().waitFor();

    await page.selectOption('#send-target', 'cid');
    await page.fill('#send-cid', device.cid);
    await page.fill('#send-topic', 'blink');
    await page.fill('#send-payload', 'on');
    await page.click('#send-button');
    await page.locator('#send-result', { hasText: 'sent to 1 receiver' }).waitFor();
    await waitFor(() => received.some((m) => m.tag === '@blink'), UI_WAIT_MS, 'the signal from the form');
    const fromForm = received.find((m) => m.tag === '@blink')!;
    assert.deepEqual(fromForm.values, ['on']);

    await page.locator('#tail td', { hasText: `${device.cid}@blink` }).waitFor();
    mkdirSync(TEST_OUTPUT, { recursive: true });
    const screenshot = join(TEST_OUTPUT, 'dashboard.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.ok(existsSync(screenshot));
    await page.close();
  });
});
