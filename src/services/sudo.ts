// The `sudo` service (docs/protocol.md §7.4): level-255 administration of connections, channels and device keys.
import type { Caller, CallRequest, Service, ServiceHost, ServiceReply } from './service.js';
import { failure, success, textArg } from './args.js';
import { describeRemote, remoteLine } from './sudo-remote.js';
import { KEY_COMMANDS, runKeyCommand, type SudoKeyOptions } from './sudo-keys.js';
import { DURABLE_COMMANDS, isDurableCommand, runDurableCommand } from './sudo-durable.js';

const MIN_LEVEL = 255;
const HOST_COMMANDS = ['cid', 'remotes', 'clients', 'channels', 'subscribers', 'remote', 'client', 'close'] as const;
/** Lower case only, as in the reference: `CID` is an UNKNOWN_COMMAND. */
const COMMANDS: readonly string[] = [...HOST_COMMANDS, ...Object.keys(KEY_COMMANDS), ...DURABLE_COMMANDS];

export interface SudoOptions {
  revealKeys?: boolean;
}

export function createSudoService(options: SudoOptions = {}): Service {
  const keyOptions: SudoKeyOptions = { revealKeys: options.revealKeys ?? false };
  return {
    name: 'sudo',
    commands: COMMANDS,
    checkPermission: (caller: Caller) => caller.level >= MIN_LEVEL,
    call: (caller: Caller, req: CallRequest, host: ServiceHost): ServiceReply | Promise<ServiceReply> => {
      if (Object.hasOwn(KEY_COMMANDS, req.topic)) return runKeyCommand(host.keyStore, req, keyOptions);
      if (isDurableCommand(req.topic)) return runDurableCommand(req, host);
      return runHostCommand(caller, req, host);
    },
  };
}

function runHostCommand(caller: Caller, req: CallRequest, host: ServiceHost): ServiceReply | Promise<ServiceReply> {
  switch (req.topic) {
    case 'cid': {
      // Online CIDs only: a connection that has not sent CID_REQ yet has none.
      const local = (): string[] => host.connectionList().map((info) => info.cid).filter((cid) => cid !== '');
      // In a cluster: every node's CIDs (from Redis); this node's alone if Redis cannot be asked.
      if (host.clusterCids) return host.clusterCids().then((all) => success(all ?? local()));
      return success(local());
    }
    case 'remotes':
    case 'clients':
      return success(host.connectionList().map(remoteLine));
    case 'channels':
      return success(host.channelList().map((channel) => channel.key));
    case 'subscribers': {
      const key = textArg(req.args[0]);
      if (!key) return failure('subscribers needs a channel key, for example CH:news');
      return success(host.subscribersOf(key) ?? []);
    }
    case 'remote':
    case 'client': {
      const cid = textArg(req.args[0]);
      if (!cid) return failure(`${req.topic} needs a cid (and optionally a mode 1-4)`);
      return success(describeRemote(host, cid, req.args[1]));
    }
    case 'close': {
      const cid = textArg(req.args[0]);
      if (!cid) return failure('close needs a cid');
      const closed = host.closeCid(cid, `closed by sudo from #${caller.ssid} (${caller.cid})`);
      // 0 leaves the body out (Q11), as in the reference.
      return success(closed ? 1 : 0);
    }
    default:
      return failure('UNKNOWN_COMMAND');
  }
}
