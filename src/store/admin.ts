// Building blocks of the admin commands on durable state (issue 20 item 5): the `sudo` RPC service and `io` will
// call these after the wiring, at level 255. Listing and reading go to the store after a flush, so they see every
// write handed over before the call, in key order (LMDB, memory) or in Redis's scan order; clearing goes to the
// live owner (the router's retained table, the channel history), which keeps its caps and shares right and tells
// the store itself. Every answer is plain JSON-able data, bounded by `limit` (at most MAX_PAGE).
import type { ChannelHistory } from '../history/channel-history.js';
import { signalTag } from '../protocol/messages.js';
import { payloadPreview } from '../http/payload-preview.js';
import type { DurableStore } from './types.js';
import { pageOf } from './key-page.js';
import type { DurabilitySample } from '../metrics/durability-sample.js';

export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

export interface AdminTarget {
  /** Null when nothing is kept across restarts: listings then read the router's live table. */
  readonly store: DurableStore | null;
  /** The live channel-retained values (listings without a store). */
  readonly live?: { retained: { keys(): Iterable<string>; get(key: string): Buffer | undefined }; retainedOwner(key: string): string | null };
  readonly history: ChannelHistory | null;
  /** The router's removal of a channel-retained value (shares given back, the store told); false when absent. */
  clearRetained(key: string): boolean;
  /** The figures of the store and the histories (sudo `store`); null when neither is kept. */
  figures?(): DurabilityFigures | null;
}

export interface PageRequest {
  prefix?: string;
  /** From the previous page's `next`. */
  cursor?: string | null;
  limit?: number;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null at the end. */
  next: string | null;
}

/** A retained signal as the admin sees it. */
export interface RetainedView {
  key: string;
  /** The tag it was published with (after any rewriting), or null when the bytes are no SIGNAL. */
  tag: string | null;
  payloadType: number | null;
  bytes: number;
  /** Who its bytes are charged to (`a:<address>`, `d:<device>`), null for the server or another node. */
  owner: string | null;
  /** A short readable form of the payload (the dashboard's preview). */
  preview: string;
}

export interface HistoryView {
  key: string;
  epoch: string;
  /** Last durable offset. */
  offset: number;
}

export interface HistoryEntryView {
  offset: number;
  time: number;
  tag: string | null;
  preview: string;
}

function limitOf(request: PageRequest): number {
  const n = request.limit ?? DEFAULT_PAGE;
  return Number.isInteger(n) && n > 0 ? Math.min(n, MAX_PAGE) : DEFAULT_PAGE;
}

function view(key: string, msg: Buffer, owner: string | null): RetainedView {
  const tag = signalTag(msg);
  const typeAt = tag === null ? -1 : 2 + Buffer.byteLength(tag);
  const payloadType = typeAt >= 0 && typeAt < msg.length ? msg[typeAt]! : null;
  return { key, tag, payloadType, bytes: msg.length, owner, preview: payloadType === null ? '' : payloadPreview(payloadType, msg.subarray(typeAt + 1)) };
}

/** Retained channel keys (`CH:…`, home keys, `$` keys), a page at a time. */
export async function listRetained(t: AdminTarget, request: PageRequest = {}): Promise<Page<string>> {
  if (!t.store) {
    const page = pageOf(t.live?.retained.keys() ?? [], request.prefix ?? '', request.cursor ?? null, limitOf(request));
    return { items: page.keys, next: page.next };
  }
  await t.store.flush();
  const page = await t.store.listRetained(request.prefix ?? '', request.cursor ?? null, limitOf(request));
  return { items: page.keys, next: page.next };
}

export async function readRetained(t: AdminTarget, key: string): Promise<RetainedView | null> {
  if (!t.store) {
    const msg = t.live?.retained.get(key);
    return msg ? view(key, msg, t.live!.retainedOwner(key)) : null;
  }
  await t.store.flush();
  const value = await t.store.getRetained(key);
  return value ? view(key, value.msg, value.owner) : null;
}

/** Clears the named keys (each as the router clears one); returns how many were there. */
export function clearRetained(t: AdminTarget, keys: readonly string[]): number {
  let cleared = 0;
  for (const key of keys.slice(0, MAX_PAGE)) if (t.clearRetained(key)) cleared++;
  return cleared;
}

/** Channels with a history and where each stands. */
export function listHistory(t: AdminTarget, request: PageRequest = {}): Page<HistoryView> {
  if (!t.history) return { items: [], next: null };
  const page = t.history.channels(request.prefix ?? '', request.cursor ?? null, limitOf(request));
  const items: HistoryView[] = [];
  for (const key of page.keys) {
    const p = t.history.position(key);
    items.push({ key, epoch: p?.epoch ?? '', offset: p?.offset ?? 0 });
  }
  return { items, next: page.next };
}

/** A channel's kept signals from offset `since` + 1 (0: from the oldest kept), at most `limit`. */
export function readHistory(t: AdminTarget, key: string, since = 0, limit = DEFAULT_PAGE): { epoch: string; entries: HistoryEntryView[]; more: boolean } | null {
  const position = t.history?.position(key);
  if (!t.history || !position) return null;
  let r = t.history.since(key, position.epoch, since, Math.min(Math.max(1, limit), MAX_PAGE));
  if (!r.ok && r.reason === 'too-old') {
    // An admin asking from before the oldest kept entry gets what is kept.
    const oldest = t.history.oldest(key);
    r = t.history.since(key, position.epoch, oldest === null ? position.offset : oldest - 1, Math.min(Math.max(1, limit), MAX_PAGE));
  }
  if (!r.ok) return null;
  return {
    epoch: r.epoch,
    more: r.more,
    entries: r.entries.map((e) => {
      const v = view(key, e.msg, null);
      return { offset: e.offset, time: e.time, tag: v.tag, preview: v.preview };
    }),
  };
}

/** Forgets a channel's history (its readers are told they cannot recover; the next signal starts a new epoch). */
export function clearHistory(t: AdminTarget, key: string): boolean {
  return t.history?.clear(key) ?? false;
}

/** The figures of `/metrics`, `/api/status` and the dashboard. */
export type DurabilityFigures = DurabilitySample;

export function durabilityFigures(store: DurableStore, history: ChannelHistory | null): DurabilityFigures {
  return { store: store.stats(), history: history?.figures() ?? null };
}

/** Prometheus series for the figures (name, help, kind, value), for the metrics module to expose at scrape. */
export function durabilitySeries(f: DurabilityFigures): Array<{ name: string; help: string; kind: 'counter' | 'gauge'; labels?: Record<string, string>; value: number }> {
  const s = f.store;
  const out: Array<{ name: string; help: string; kind: 'counter' | 'gauge'; labels?: Record<string, string>; value: number }> = [];
  if (s) out.push(
    { name: 'iosig_store_size_bytes', help: 'Bytes the durable store occupies (LMDB file; Redis used_memory, sampled every 10 s).', kind: 'gauge', labels: { kind: s.kind }, value: s.sizeBytes },
    { name: 'iosig_store_writes_total', help: 'Writes handed to the durable store (before coalescing): the write rate.', kind: 'counter', value: s.writes },
    { name: 'iosig_store_write_bytes_total', help: 'Bytes of values written to the durable store.', kind: 'counter', value: s.writeBytes },
    { name: 'iosig_store_commits_total', help: 'Transactions committed by the durable store.', kind: 'counter', value: s.commits },
    { name: 'iosig_store_commit_errors_total', help: 'Failed commits (retried with the writes made since).', kind: 'counter', value: s.commitErrors },
    { name: 'iosig_store_pending_bytes', help: 'Bytes handed over and not yet committed.', kind: 'gauge', value: s.pendingBytes },
    { name: 'iosig_store_deferred_keys', help: 'Keys past the pending bound, to be written from their owners once the store catches up.', kind: 'gauge', value: s.deferredKeys },
    { name: 'iosig_store_dropped_writes_total', help: 'Writes lost: after close, or past the bound with no owner to ask again.', kind: 'counter', value: s.droppedWrites },
    { name: 'iosig_store_flush_lag_seconds', help: 'Age of the oldest write not yet committed (0: all committed).', kind: 'gauge', value: s.flushLagSeconds },
    { name: 'iosig_store_slowest_commit_seconds', help: 'The longest commit since start.', kind: 'gauge', value: s.slowestCommitSeconds },
  );
  if (f.history) {
    out.push(
      { name: 'iosig_history_channels', help: 'Channels keeping a history.', kind: 'gauge', value: f.history.channels },
      { name: 'iosig_history_entries', help: 'Signals kept in channel histories.', kind: 'gauge', value: f.history.entries },
      { name: 'iosig_history_bytes', help: 'Bytes of channel histories (bounded by --history-max-bytes).', kind: 'gauge', value: f.history.bytes },
      { name: 'iosig_history_evicted_total', help: 'History entries dropped to keep --history-max-bytes.', kind: 'counter', value: f.history.evicted },
    );
  }
  return out;
}
