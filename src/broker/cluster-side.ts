// The broker as its cluster sees it (ClusterBroker, cluster/broker-cluster.ts): its router, its sessions, and
// the two things a login on another node may ask of a local session — prove it is alive (keep-old) or give way
// (replace), by the same rule as a local duplicate login (cid-claims.ts).
import { encodeAuthClear } from '../protocol/messages.js';
import { probeLiveness } from '../guard/duplicate-login.js';
import type { ClusterBroker } from '../cluster/broker-cluster.js';
import type { Broker } from './broker.js';

/** `ports`: the listeners bound, for the node's status record. */
export function clusterSideOf(broker: Broker, ports: () => { ws: number | undefined; cong: number | undefined }): ClusterBroker {
  const { options, router } = broker;
  return {
    router,
    duplicateLogin: options.duplicateLogin,
    connectionCount: () => broker.registry.size,
    address: () => {
      const { ws, cong } = ports();
      return `${options.host} ws:${ws ?? '-'} cong:${cong ?? '-'}`;
    },
    broadcastLocal: (msg) => broker.broadcastLocal(msg),
    probeCid: async (cid) => {
      const conn = router.cids.get(cid);
      if (!conn) return false;
      // The same probe as a local duplicate login: a silent session is the stale socket of a device that
      // reconnected elsewhere, and gives way.
      const deadline = options.duplicateProbeTimeout;
      if (await probeLiveness(conn, deadline, broker.clock)) return true;
      conn.close(`stale session: no answer to the probe of a duplicate login on another node within ${deadline} ms`, 'abort');
      return false;
    },
    evictCid: (cid) => {
      const conn = router.cids.get(cid);
      if (!conn) return;
      conn.quietClose = true;
      conn.channel.sendPlain(encodeAuthClear('duplicate login.'));
      conn.close('duplicate login: replaced by a login on another node');
    },
    log: (line) => broker.log(line),
  };
}
