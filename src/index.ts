// Library entry: the server and the protocol codecs.
export { createServer, IosigServer, type ConnectionInfo, type ChannelInfo, type SignalInfo } from './server.js';
export type { Service, ServiceReply, ServiceHost, Caller } from './services/service.js';
export { resolveOptions, type ServerOptions, type ServerOptionsInput } from './options.js';
export type { MetricsSnapshot } from './metrics/stats.js';
