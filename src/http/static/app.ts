// The dashboard's entry module: opens the live feed and keeps every panel up to date (browser code).
import type { AccessLevel, HelloFrame, TickFrame } from '../dashboard-types.js';
import { byId } from './dom.js';
import { FeedClient } from './feed-client.js';
import { TrafficChart } from './traffic-chart.js';
import { renderCounters } from './counters-view.js';
import { renderChannels, renderDevices } from './tables.js';
import { renderCluster } from './cluster-view.js';
import { renderMqtt } from './mqtt-view.js';
import { TailView } from './tail-view.js';
import { SendForm } from './send-form.js';
import { ValueChart } from './value-chart.js';

const TOKEN_KEY = 'iosig-admin-token';

/** A token may come in the URL fragment (never sent to the server) and is then kept for the tab only. */
function initialToken(): string {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

const ACCESS_TEXT: Record<AccessLevel, string> = {
  counters: 'counters only',
  read: 'read-only (loopback)',
  admin: 'admin',
};

function start(): void {
  let token = initialToken();
  const feedState = byId('feed-state', HTMLSpanElement);
  const accessBadge = byId('access', HTMLSpanElement);
  const counters = byId('counters', HTMLElement);
  const devices = byId('devices', HTMLTableElement).tBodies[0]!;
  const channels = byId('channels', HTMLTableElement).tBodies[0]!;
  const clusterPanel = byId('cluster-panel', HTMLElement);
  const clusterSummary = byId('cluster-summary', HTMLElement);
  const nodes = byId('nodes', HTMLTableElement).tBodies[0]!;
  const mqttPanel = byId('mqtt-panel', HTMLElement);
  const mqttSummary = byId('mqtt-summary', HTMLElement);
  const chart = new TrafficChart(byId('traffic', HTMLCanvasElement));
  const tail = new TailView(byId('tail', HTMLTableElement).tBodies[0]!, byId('tail-filter', HTMLInputElement));
  const form = new SendForm(() => token);
  const values = new ValueChart(byId('values', HTMLCanvasElement), byId('values-channel', HTMLInputElement), byId('values-latest', HTMLElement));
  devices.addEventListener('click', (event) => {
    const tr = (event.target as HTMLElement).closest('tr');
    if (tr?.dataset.cid) form.address(tr.dataset.cid, tr.dataset.kind ?? '');
  });

  const feed = new FeedClient({
    hello(frame: HelloFrame) {
      const reader = frame.access !== 'counters';
      accessBadge.textContent = ACCESS_TEXT[frame.access];
      byId('devices-locked', HTMLParagraphElement).hidden = reader;
      byId('tail-locked', HTMLParagraphElement).hidden = reader;
      if (!reader) {
        devices.replaceChildren();
        channels.replaceChildren();
      }
      form.enable(frame.access === 'admin', frame.tokenConfigured ? 'sending needs the admin token' : 'sending is off: the server has no admin token');
      chart.reset(frame.history);
      tail.reset(frame.tail);
    },
    tick(frame: TickFrame) {
      renderCounters(counters, frame.metrics, frame.traffic);
      chart.add(frame.traffic);
      renderCluster(clusterPanel, clusterSummary, nodes, frame.metrics.cluster);
      renderMqtt(mqttPanel, mqttSummary, frame.metrics.mqtt ?? null);
      if (frame.connections) {
        renderDevices(devices, frame.connections);
        byId('device-count', HTMLElement).textContent = `${frame.metrics.connections}`;
      }
      if (frame.channels) {
        renderChannels(channels, frame.channels);
        byId('channel-count', HTMLElement).textContent = `${frame.metrics.channels}`;
      }
    },
    tail(frame) {
      tail.add(frame.entries, frame.skipped);
      values.add(frame.entries);
    },
    state(live, detail) {
      feedState.textContent = detail;
      feedState.className = live ? 'badge live' : 'badge down';
    },
  });

  const tokenInput = byId('token', HTMLInputElement);
  byId('token-form', HTMLFormElement).addEventListener('submit', (event) => {
    event.preventDefault();
    token = tokenInput.value.trim();
    tokenInput.value = '';
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    feed.open(token);
  });
  feed.open(token);
}

start();
