// `iosig/client`: the typed iosignal client for Node.js.
export { IoClient, type CallOptions } from './client.js';
export type { IoClientOptions, Credentials } from './options.js';
export type {
  CallResult,
  ClientEvents,
  ClientState,
  CloseInfo,
  EncMode,
  HistoryPosition,
  HistoryRecovery,
  IamInfo,
  OverSizeInfo,
  PayloadTypeName,
  Quota,
  SignalMessage,
} from './events.js';
export { CallError, NotConnectedError, ReplyTimeoutError } from './errors.js';
export { BadUrlError, parseServerUrl, type ServerAddress, type TransportKind } from './url.js';
export type { TlsSettings } from './transport.js';
export { measureRtt, summarize, type RttProbeOptions, type RttReport, type RttSummary } from './rtt.js';
