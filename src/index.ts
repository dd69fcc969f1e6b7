// The library (`iosig`): start a broker, its options, the view of a running one and what observers are told.
// The protocol codecs are `iosig/protocol`, the client `iosig/client`.
export { createServer } from './server.js';
export type { IosigServer, PlainDeviceLink, SignalInfo } from './server-view.js';
export type { ServerOptions, ServerOptionsInput } from './options.js';
export type { ChannelInfo, ConnectionInfo, DeviceKind, TransportKind } from './info.js';
export type { MetricsSnapshot } from './metrics/stats.js';
export type { Service, ServiceReply, ServiceHost, Caller, CallRequest, MbpValue } from './services/service.js';
