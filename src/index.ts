// Library entry: the server and the protocol codecs.
export { createServer, IosigServer, type ConnectionInfo, type ChannelInfo } from './server.js';
export { resolveOptions, type ServerOptions, type ServerOptionsInput } from './options.js';
export type { MetricsSnapshot } from './metrics/counters.js';
