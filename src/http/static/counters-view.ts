// The row of headline numbers (browser code).
import type { MetricsSample, TrafficPoint } from '../dashboard-types.js';
import { formatBytes, formatCount } from './format.js';

export function renderCounters(container: HTMLElement, metrics: MetricsSample, traffic: TrafficPoint | null): void {
  const cards: [string, string][] = [
    ['connections', formatCount(metrics.connections)],
    ['WebSocket / Cong', `${formatCount(metrics.connectionsWs)} / ${formatCount(metrics.connectionsCong)}`],
    ['channels', formatCount(metrics.channels)],
    ['subscriptions', formatCount(metrics.subscriptions)],
    ['retained', formatCount(metrics.retainedChannel + metrics.retainedCid)],
    ['msgs in / s', traffic ? formatCount(traffic.messagesIn) : '–'],
    ['msgs out / s', traffic ? formatCount(traffic.messagesOut) : '–'],
    ['bytes in', formatBytes(metrics.bytesIn)],
    ['bytes out', formatBytes(metrics.bytesOut)],
    ['deliveries', formatCount(metrics.deliveries)],
    ['drops', formatCount(metrics.drops)],
    ['auth failures', formatCount(metrics.authFail)],
    ['loop lag p99', `${(metrics.eventLoopLag.p99Seconds * 1000).toFixed(1)} ms`],
    ['RSS', formatBytes(metrics.rssBytes)],
  ];
  container.replaceChildren(
    ...cards.map(([label, value]) => {
      const card = document.createElement('div');
      card.className = 'card';
      const number = document.createElement('b');
      number.textContent = value;
      const caption = document.createElement('span');
      caption.textContent = label;
      card.append(number, caption);
      return card;
    }),
  );
}
