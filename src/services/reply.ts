// The `reply` service (docs/protocol.md §7.4): echo, date and unixtime for anyone, a quick way to test RPC.
import type { Caller, CallRequest, Service, ServiceReply } from './service.js';
import { failure, success } from './args.js';

const MIN_LEVEL = 0;
const COMMANDS = ['echo', 'date', 'unixtime'] as const;

export function createReplyService(): Service {
  return {
    name: 'reply',
    commands: COMMANDS,
    checkPermission: (caller: Caller) => caller.level >= MIN_LEVEL,
    call: (_caller: Caller, req: CallRequest): ServiceReply => {
      switch (req.topic) {
        case 'echo':
          // args stop at the first falsy value, so `echo 0 1` has nothing to echo (Q10).
          return req.args.length > 0 ? success(req.args) : failure('no message to echo');
        case 'date':
          return success(new Date().toUTCString());
        case 'unixtime':
          return success(Math.floor(Date.now() / 1000));
        default:
          return failure('UNKNOWN_COMMAND');
      }
    },
  };
}
