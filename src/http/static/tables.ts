// The device and channel tables (browser code).
import type { ChannelInfo, ConnectionInfo } from '../dashboard-types.js';
import { cell, row } from './dom.js';
import { formatBytes, formatCount, formatDuration } from './format.js';

export function renderDevices(body: HTMLTableSectionElement, connections: ConnectionInfo[]): void {
  body.replaceChildren(
    ...connections.map((c) => {
      const tr = row([
        cell(c.cid || `#${c.ssid}`),
        cell(c.kind === 'serial' ? `serial ${c.nick.slice('serial:'.length)}` : c.kind),
        cell(c.transport),
        cell(c.ip),
        cell(c.admin ? 'admin' : c.authorized ? 'logged in' : 'anonymous'),
        cell(formatDuration(c.uptimeMs), 'num'),
        cell(formatCount(c.messagesIn), 'num'),
        cell(formatCount(c.messagesOut), 'num'),
        cell(formatBytes(c.bytesIn), 'num'),
        cell(formatBytes(c.bytesOut), 'num'),
      ]);
      tr.dataset.cid = c.cid;
      tr.dataset.kind = c.kind;
      return tr;
    }),
  );
}

export function renderChannels(body: HTMLTableSectionElement, channels: ChannelInfo[]): void {
  const sorted = [...channels].sort((a, b) => b.subscribers - a.subscribers || a.key.localeCompare(b.key));
  body.replaceChildren(
    ...sorted.map((c) => row([cell(c.key), cell(formatCount(c.subscribers), 'num'), cell(c.retained ? 'yes' : '')])),
  );
}
