// The server as the cluster sees it (ClusterBroker): its router, its connections, and the two things a login on
// another node may ask of a local session — prove it is alive (keep-old) or give way (replace).
import type { Router } from '../router/router.js';
import type { Connection } from '../connection/connection.js';
import { encodeAuthClear } from '../protocol/messages.js';
import { probeLiveness } from '../connection/liveness-probe.js';
import type { ClusterBroker } from './broker-cluster.js';
import type { Clock } from '../clock.js';

export interface ClusterServer {
  readonly router: Router<Connection>;
  readonly connections: ReadonlySet<Connection>;
  readonly options: { readonly duplicateLogin: 'keep-old' | 'replace'; readonly host: string; readonly duplicateProbeTimeout: number };
  /** The time source of the probe's deadline, as for a local duplicate login. */
  readonly clock: Clock;
  readonly wsPort: number | undefined;
  readonly congPort: number | undefined;
  broadcastLocal(msg: Uint8Array): number;
  log(line: string): void;
}

export function clusterBrokerOf(server: ClusterServer): ClusterBroker {
  return {
    router: server.router,
    duplicateLogin: server.options.duplicateLogin,
    connectionCount: () => server.connections.size,
    address: () => `${server.options.host} ws:${server.wsPort ?? '-'} cong:${server.congPort ?? '-'}`,
    broadcastLocal: (msg) => server.broadcastLocal(msg),
    probeCid: async (cid) => {
      const conn = server.router.cids.get(cid);
      if (!conn) return false;
      // The same probe as a local duplicate login (liveness-probe.ts): a silent session is the stale socket of a
      // device that reconnected elsewhere, and gives way.
      const deadline = server.options.duplicateProbeTimeout;
      if (await probeLiveness(conn, deadline, server.clock)) return true;
      conn.close(`stale session: no answer to the probe of a duplicate login on another node within ${deadline} ms`, 'abort');
      return false;
    },
    evictCid: (cid) => {
      const conn = server.router.cids.get(cid);
      if (!conn) return;
      conn.quietClose = true;
      conn.channel.sendPlain(encodeAuthClear('duplicate login.'));
      conn.close('duplicate login: replaced by a login on another node');
    },
    log: (line) => server.log(line),
  };
}
