// The server as the cluster sees it (ClusterBroker): its router, its connections, and the two things a login on
// another node may ask of a local session — prove it is alive (keep-old) or give way (replace).
import type { Router } from '../router/router.js';
import type { Connection } from '../connection/connection.js';
import { encodeAuthClear } from '../protocol/messages.js';
import type { ClusterBroker } from './broker-cluster.js';

export interface ClusterServer {
  readonly router: Router<Connection>;
  readonly connections: ReadonlySet<Connection>;
  readonly options: { readonly duplicateLogin: 'keep-old' | 'replace'; readonly host: string };
  readonly wsPort: number | undefined;
  readonly congPort: number | undefined;
  broadcastLocal(msg: Uint8Array): number;
  log(line: string): void;
}

/** How long a session whose CID a login on another node wants has to show a sign of life (keep-old). */
const PROBE_DEADLINE_MS = 1000;
const PROBE_POLL_MS = 20;

/**
 * Sends the keepalive probe and waits for any traffic from the peer (a pong included). The liveness flag is cleared
 * first, which only makes the next keepalive sweep stricter for this one session.
 */
async function answersProbe(conn: Connection, deadlineMs: number): Promise<boolean> {
  conn.alive = false;
  conn.link.probe();
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (conn.closed) return false;
    if (conn.alive) return true;
    await new Promise((resolve) => setTimeout(resolve, PROBE_POLL_MS));
  }
  return conn.alive;
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
      if (await answersProbe(conn, PROBE_DEADLINE_MS)) return true;
      // A silent session is the stale socket of a device that reconnected elsewhere: it gives way.
      conn.close(`stale session: no answer to the probe of a duplicate login on another node within ${PROBE_DEADLINE_MS} ms`, 'abort');
      return false;
    },
    evictCid: (cid) => {
      const conn = server.router.cids.get(cid);
      if (!conn) return;
      conn.quietClose = true;
      conn.sendPlain(encodeAuthClear('duplicate login.'));
      conn.close('duplicate login: replaced by a login on another node');
    },
    log: (line) => server.log(line),
  };
}
