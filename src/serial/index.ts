// The serial bridge as a library (io-serial is its command line).
export { SerialBridge } from './bridge.js';
export { PortBridge, type PortStats } from './port-bridge.js';
export { DEFAULTS, parsePortSpec, unescapeDelimiter, channelFor, type BridgeSettings, type PortSpec, type SerialMode } from './settings.js';
export { LineSplitter } from './line-splitter.js';
