// The cluster panel: one row per live node and the cluster-wide totals, from the tick's metrics.cluster
// (browser code). A single-node server has no cluster sample and the panel stays hidden.
import type { MetricsSample } from '../dashboard-types.js';
import { cell, row } from './dom.js';
import { formatCount, formatDuration } from './format.js';

type ClusterSample = NonNullable<MetricsSample['cluster']>;

function formatLag(ms: number): string {
  return ms < 0 ? '–' : `${ms.toFixed(1)} ms`;
}

export function renderCluster(panel: HTMLElement, summary: HTMLElement, body: HTMLTableSectionElement, cluster: ClusterSample | null): void {
  panel.hidden = cluster === null;
  if (!cluster) return;
  const { totals } = cluster;
  summary.textContent =
    `${formatCount(totals.nodes)} nodes · ${formatCount(totals.connections)} connections · ${formatCount(totals.dropped)} dropped · ` +
    `${formatCount(totals.gaps ?? 0)} missed · ` +
    `bus ${cluster.ready ? 'up' : 'down'}`;
  const sorted = [...cluster.nodes].sort((a, b) => a.id.localeCompare(b.id));
  body.replaceChildren(
    ...sorted.map((n) => {
      const tr = row([
        cell(n.id === cluster.node ? `${n.id} (this node)` : n.id),
        cell(n.address),
        cell(formatCount(n.connections), 'num'),
        cell(formatDuration(Math.max(0, n.at - n.startedAt)), 'num'),
        cell(formatLag(n.lagMs), 'num'),
        cell(formatCount(n.dropped), 'num'),
        cell(formatCount(n.gaps ?? 0), 'num'),
        cell(formatCount(n.published), 'num'),
        cell(formatCount(n.received), 'num'),
      ]);
      tr.dataset.node = n.id;
      return tr;
    }),
  );
}
