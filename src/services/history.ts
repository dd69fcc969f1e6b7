// The `history` service (docs/durability.md §7, beyond iosignal): positioned reading of history channels
// (`--history`). Level 0: reading a channel's past needs what subscribing to it needs. Unmodified iosignal clients
// never call it, and SIGNAL_AT (`D7`) goes only to sessions that did.
//
//   subscribe <tag> [<epoch> <offset>]  the missed signals since (epoch, offset) as D7, then live ones as D7;
//                                       no epoch: from now. Status 0, body {epoch, offset}: where live delivery
//                                       continues. Status 1, body {reason, epoch, offset}: cannot recover
//                                       (reason epoch | too-old | ahead | no-history | limit), subscribed from now.
//   unsubscribe <tag>                   ends it (1 when there was one)
//   position <tag>                      {epoch, offset} of the channel now, no body when nothing is durable yet
//   read <tag> <epoch> <offset> [<n>]   up to n (default 100, at most 1000) kept signals after offset:
//                                       {epoch, more, entries: [[offset, time ms, SIGNAL as base64]…]}
// Offsets go as decimal strings or numbers; "0" (a string) asks from the start (a number 0 would end the
// arguments, Q10).
import { DEFAULT_PAGE, MAX_PAGE } from '../store/admin.js';
import { failure, success, textArg } from './args.js';
import type { Caller, CallRequest, Service, ServiceHost, ServiceReply } from './service.js';
import type { DurableHost, HistoryPosition } from './durable-host.js';

import { STATUS } from '../protocol/codes.js';

const COMMANDS = ['subscribe', 'unsubscribe', 'position', 'read'] as const;
/** Below 128: the call resolves, and the body says what could not be done. */
const NOT_RECOVERED = 1;

function offsetArg(value: unknown): number | null {
  const text = textArg(value as never);
  if (text === null || !/^\d{1,16}$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

function positionArgs(req: CallRequest, at: number): HistoryPosition | null | 'bad' {
  if (req.args.length <= at) return null;
  const epoch = textArg(req.args[at]);
  const offset = offsetArg(req.args[at + 1]);
  if (epoch === null || offset === null) return 'bad';
  return { epoch, offset };
}

async function run(caller: Caller, req: CallRequest, durable: DurableHost): Promise<ServiceReply> {
  const tag = textArg(req.args[0]);
  if (!tag) return failure(`${req.topic} needs a channel tag`);
  // The access rules (issue 18): reading a channel's past, or its present as positioned signals, needs `subscribe`.
  if (req.topic !== 'unsubscribe' && !durable.mayRead(caller, tag)) return { status: STATUS.ERROR, body: 'NO_PERMISSION.' };
  switch (req.topic) {
    case 'subscribe': {
      const from = positionArgs(req, 1);
      if (from === 'bad') return failure('subscribe <tag> [<epoch> <offset>]: the offset is a whole number');
      const answer = await durable.subscribeSince(caller, tag, from);
      const at = answer.position ?? { epoch: '', offset: 0 };
      if (answer.ok) return success({ epoch: at.epoch, offset: at.offset });
      return { status: NOT_RECOVERED, body: { reason: answer.reason ?? 'no-history', epoch: at.epoch, offset: at.offset } };
    }
    case 'unsubscribe':
      return success(durable.unsubscribePositioned(caller, tag) ? 1 : 0);
    case 'position': {
      const at = durable.position(caller, tag);
      return success(at ? { epoch: at.epoch, offset: at.offset } : undefined);
    }
    case 'read': {
      const from = positionArgs(req, 1);
      if (from === null || from === 'bad') return failure('read <tag> <epoch> <offset> [<n>]');
      const key = durable.keyOf(caller, tag);
      const history = durable.admin.history;
      if (!key || !history) return { status: NOT_RECOVERED, body: { reason: 'no-history' } };
      const n = offsetArg(req.args[3]) ?? DEFAULT_PAGE;
      const r = history.since(key, from.epoch, from.offset, Math.min(Math.max(1, n), MAX_PAGE));
      if (!r.ok) return { status: NOT_RECOVERED, body: { reason: r.reason, epoch: r.position?.epoch ?? '', offset: r.position?.offset ?? 0 } };
      return success({ epoch: r.epoch, more: r.more, entries: r.entries.map((e) => [e.offset, e.time, e.msg.toString('base64')]) });
    }
    default:
      return failure('UNKNOWN_COMMAND');
  }
}

export function createHistoryService(): Service {
  return {
    name: 'history',
    commands: COMMANDS,
    checkPermission: () => true,
    call: (caller: Caller, req: CallRequest, host: ServiceHost): ServiceReply | Promise<ServiceReply> => {
      if (!host.durable?.admin.history) return { status: NOT_RECOVERED, body: { reason: 'no-history' } };
      return run(caller, req, host.durable);
    },
  };
}
