// The mixed scene of issue 11: on one channel, a CongSocket device (as an Arduino would be), a browser page
// with a bare `new WebSocket()` on the plain endpoint, a serial board behind io-serial (a socat pty pair) and
// the dashboard in Chromium — each receives what the others send; the dashboard lists their kinds and plots the
// numbers of the channel.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { IosigServer } from '../../src/index.js';
import type { IoClient, SignalMessage } from '../../src/client/index.js';
import { SerialBridge } from '../../src/serial/bridge.js';
import { DEFAULTS } from '../../src/serial/settings.js';
import { numbersIn } from '../../src/http/static/value-chart.js';
import { waitFor } from '../kit/wait.js';
import { launchChromium } from '../kit/browser.js';
import { needs } from '../kit/tools.js';
import { Board, PtyPair } from '../serial/pty-pair.js';
import { TEST_OUTPUT, readyClient } from './support.js';
import { startServer } from '../kit/server.js';

const TOKEN = 'scene-secret';
const WAIT_MS = 8000;

describe('value chart numbers', () => {
  it('takes every number of a reading, in order', () => {
    assert.deepEqual(numbersIn('3, 17, 22.4'), [3, 17, 22.4]);
    assert.deepEqual(numbersIn('{"t":-1.5e2}'), [-150]);
    assert.deepEqual(numbersIn('no numbers'), []);
  });
});

describe('CongSocket, plain WebSocket, serial and the dashboard on one channel', needs('chromium', 'socat'), () => {
  let server: IosigServer;
  let browser: Browser;
  let pair: PtyPair;
  let bridge: SerialBridge;
  let board: Board;
  let arduino: IoClient;
  const atArduino: SignalMessage[] = [];

  before(async () => {
    server = await startServer({ adminToken: TOKEN });
    browser = await launchChromium();
    pair = new PtyPair();
    await pair.up();
    board = await Board.open(pair.boardPath);
    bridge = new SerialBridge([{ path: pair.tty, name: 'board-1' }], {
      server: `cong://127.0.0.1:${server.congPort}`,
      baudRate: 115_200,
      mode: 'line',
      delimiter: Buffer.from('\n'),
      maxLine: DEFAULTS.maxLine,
      channel: 'lab',
      commandTopic: DEFAULTS.commandTopic,
      broadcast: 'lab',
      bufferBytes: DEFAULTS.bufferBytes,
      writeLimit: DEFAULTS.writeLimit,
      portRetryMs: 100,
      client: {},
    });
    const ready = new Promise<void>((resolve) => bridge.ports[0]!.once('ready', () => resolve()));
    const open = new Promise<void>((resolve) => bridge.ports[0]!.once('open', () => resolve()));
    bridge.start();
    await ready;
    await open;
    arduino = await readyClient(`cong://127.0.0.1:${server.congPort}`);
    arduino.on('message', (m) => atArduino.push(m));
    arduino.subscribe('lab');
    await arduino.echo('subscribed');
  });
  after(async () => {
    await browser?.close();
    arduino?.close();
    await bridge?.stop();
    await board?.close();
    await pair?.dispose();
    await server?.close();
  });

  it('delivers every sender to every other receiver', async () => {
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page.setDefaultTimeout(WAIT_MS);
    await page.goto(`http://127.0.0.1:${server.wsPort}/#token=${TOKEN}`);
    await page.locator('#access', { hasText: 'admin' }).waitFor();
    await page.locator('#feed-state.live').waitFor();
    await page.fill('#values-channel', 'lab');

    // The plain device: nothing but the browser's own WebSocket.
    await page.evaluate(async (url) => {
      const w = window as unknown as { plain: WebSocket; got: string[] };
      w.got = [];
      w.plain = new WebSocket(url);
      w.plain.onmessage = (event) => w.got.push(String(event.data));
      await new Promise((resolve, reject) => {
        w.plain.onopen = resolve;
        w.plain.onerror = reject;
      });
    }, `ws://127.0.0.1:${server.wsPort}/plain/lab`);
    const plainGot = (): Promise<string[]> => page.evaluate(() => (window as unknown as { got: string[] }).got);
    const plainSend = (text: string): Promise<void> =>
      page.evaluate((t) => (window as unknown as { plain: WebSocket }).plain.send(t), text);
    await waitFor(() => server.connectionList().some((c) => c.kind === 'plain' && c.channels.includes('CH:lab')), WAIT_MS, 'the plain device subscribed');

    // The dashboard lists all three kinds.
    await page.locator('#devices td', { hasText: 'plain' }).waitFor();
    await page.locator('#devices td', { hasText: 'serial board-1' }).waitFor();
    await page.locator(`#devices tr[data-cid="${arduino.cid}"] td`, { hasText: 'iosignal' }).waitFor();

    // CongSocket device → browser, board, dashboard.
    arduino.signal('lab', 'from arduino 1');
    await page.waitForFunction(() => (window as unknown as { got: string[] }).got.includes('from arduino 1'));
    await board.waitFor('from arduino 1\n', WAIT_MS);
    await page.locator('#tail td', { hasText: 'from arduino 1' }).waitFor();

    // Browser's bare WebSocket → CongSocket device, board, dashboard.
    await plainSend('from browser 2');
    await waitFor(() => atArduino.some((m) => m.values[0] === 'from browser 2'), WAIT_MS, 'the browser frame at the CongSocket device');
    await board.waitFor('from browser 2\n', WAIT_MS);
    await page.locator('#tail td', { hasText: 'from browser 2' }).waitFor();

    // Serial board → CongSocket device, browser, dashboard (and the value chart).
    await board.write('temp 21.5\n');
    await waitFor(() => atArduino.some((m) => m.values[0] === 'temp 21.5'), WAIT_MS, 'the board line at the CongSocket device');
    await page.waitForFunction(() => (window as unknown as { got: string[] }).got.includes('temp 21.5'));
    await page.locator('#tail td', { hasText: 'temp 21.5' }).waitFor();
    await page.locator('#values-latest', { hasText: '21.5' }).waitFor();

    // Dashboard send form → all three.
    await page.selectOption('#send-target', 'channel');
    await page.fill('#send-tag', 'lab');
    await page.fill('#send-payload', 'from dashboard 4');
    await page.click('#send-button');
    await page.locator('#send-result', { hasText: 'sent to 3 receiver' }).waitFor();
    await waitFor(() => atArduino.some((m) => m.values[0] === 'from dashboard 4'), WAIT_MS, 'the form at the CongSocket device');
    await page.waitForFunction(() => (window as unknown as { got: string[] }).got.includes('from dashboard 4'));
    await board.waitFor('from dashboard 4\n', WAIT_MS);

    // A click on the serial device addresses its command topic.
    const serialCid = server.connectionList().find((c) => c.kind === 'serial')!.cid;
    await page.click(`#devices tr[data-cid="${serialCid}"]`);
    assert.equal(await page.inputValue('#send-topic'), 'cmd');
    await page.fill('#send-payload', 'l');
    await page.click('#send-button');
    await board.waitFor('l\n', WAIT_MS);

    // Nobody got its own messages back: the browser saw exactly the others' texts, the board not its own line.
    assert.deepEqual(await plainGot(), ['from arduino 1', 'temp 21.5', 'from dashboard 4']);
    assert.equal(board.received.toString(), 'from arduino 1\nfrom browser 2\nfrom dashboard 4\nl\n');
    mkdirSync(TEST_OUTPUT, { recursive: true });
    await page.screenshot({ path: join(TEST_OUTPUT, 'devices-scene.png'), fullPage: true });
    await page.close();
  });
});
