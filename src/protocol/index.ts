// Public surface of the pure protocol layer: codes, framing, fixed layouts, MBP, RPC and signal payloads.
export * from './codes.js';
export * from './congsocket.js';
export * from './messages.js';
export * from './mbp.js';
export * from './rpc.js';
export * from './payload.js';
