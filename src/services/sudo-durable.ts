// sudo's commands on durable state (issue 20 item 5, level 255; docs/durability.md §12), over src/store/admin.ts:
//   retained [prefix] [cursor]     channel-retained keys, a page of 100: {items, next}
//   getretained <key>              one value: tag, payload type, size, owner, preview
//   delretained <key…>             clears them as the router does (shares given back, the store told): how many
//   histories [prefix] [cursor]    channels with a history and where each stands
//   history <key> [since] [n]      kept signals after offset `since` (default: from the oldest), n at most 1000
//   delhistory <key>               forgets a history (readers are told they cannot recover)
//   store                          the store's and the histories' figures
import { clearHistory, clearRetained, listHistory, listRetained, readHistory, readRetained, DEFAULT_PAGE } from '../store/admin.js';
import { failure, success, textArg } from './args.js';
import type { CallRequest, ServiceHost, ServiceReply } from './service.js';

export const DURABLE_COMMANDS = ['retained', 'getretained', 'delretained', 'histories', 'history', 'delhistory', 'store'] as const;

function count(value: unknown, fallback: number): number {
  const text = textArg(value as never);
  return text !== null && /^\d{1,9}$/.test(text) ? Number(text) : fallback;
}

export function isDurableCommand(topic: string): boolean {
  return (DURABLE_COMMANDS as readonly string[]).includes(topic);
}

export async function runDurableCommand(req: CallRequest, host: ServiceHost): Promise<ServiceReply> {
  const t = host.durable?.admin;
  if (!t) return failure('durable state is not available in this server');
  const first = textArg(req.args[0]);
  switch (req.topic) {
    case 'retained':
      return success(await listRetained(t, { prefix: first ?? '', cursor: textArg(req.args[1]), limit: DEFAULT_PAGE }));
    case 'getretained': {
      if (!first) return failure('getretained needs a channel key, for example CH:status$');
      return success((await readRetained(t, first)) ?? undefined);
    }
    case 'delretained': {
      const keys = req.args.map((a) => textArg(a)).filter((k): k is string => !!k);
      if (keys.length === 0) return failure('delretained needs one or more channel keys');
      return success(clearRetained(t, keys));
    }
    case 'histories':
      return success(listHistory(t, { prefix: first ?? '', cursor: textArg(req.args[1]), limit: DEFAULT_PAGE }));
    case 'history': {
      if (!first) return failure('history needs a channel key, for example CH:chat');
      return success(readHistory(t, first, count(req.args[1], 0), count(req.args[2], DEFAULT_PAGE)) ?? undefined);
    }
    case 'delhistory': {
      if (!first) return failure('delhistory needs a channel key');
      return success(clearHistory(t, first) ? 1 : 0);
    }
    case 'store': {
      const figures = t.figures?.() ?? null;
      return success(figures ?? { store: null, history: null });
    }
    default:
      return failure('UNKNOWN_COMMAND');
  }
}
