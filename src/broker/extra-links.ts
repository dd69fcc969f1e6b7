// Connections that come in without a listener of the broker's (IosigServer.connectInMemory and connectPlain): an
// in-process pair for tests and embedding, and a plain device on a socket its caller owns. Each is counted as its
// transport's listener would count it, then accepted through the broker like any other link.
import { memoryPair, type MemoryEndpoint, type MemoryLinkOptions } from '../transport/memory.js';
import { backlogLimits } from '../transport/listen-options.js';
import { PlainLink, plainLimits, type FrameSocket, type PlainRequest } from '../plain/plain-link.js';
import type { Broker } from './broker.js';

export function connectInMemory(broker: Broker, opts: MemoryLinkOptions): MemoryEndpoint {
  const transport = opts.transport ?? 'ws';
  const { link, endpoint } = memoryPair(transport, backlogLimits(broker.options, 'cong'));
  if (transport === 'ws') broker.stats.acceptedWs++;
  else broker.stats.acceptedCong++;
  const { peerIp = '127.0.0.1', forwardedFor, forwardedProto, identity, certificate } = opts;
  link.conn = broker.accept(link, { peerIp, forwardedFor, forwardedProto, tls: opts.tls === true, ...(identity ? { identity } : {}), ...(certificate ? { certificate } : {}) });
  return endpoint;
}

export function connectPlain(broker: Broker, socket: FrameSocket, request: PlainRequest, peerIp: string): PlainLink {
  const { options, stats } = broker;
  const link = new PlainLink(socket, backlogLimits(options, 'ws'), plainLimits(options), request, stats);
  stats.acceptedWs++;
  link.conn = broker.accept(link, { peerIp });
  link.start();
  return link;
}
