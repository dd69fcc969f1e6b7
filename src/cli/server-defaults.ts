// The defaults `io-server --help` prints, each read from SERVER_DEFAULTS (src/options.ts) rather than retyped.
import { SERVER_DEFAULTS, SERVER_MINIMUMS } from '../options.js';

const MIB = 1024 * 1024;

/** 16777216 → "16 MiB", 20971584 → "20 MiB + 64", 1000 → "1000". */
export function formatBytes(bytes: number): string {
  const mib = Math.floor(bytes / MIB);
  if (mib === 0) return String(bytes);
  const rest = bytes - mib * MIB;
  return rest === 0 ? `${mib} MiB` : `${mib} MiB + ${rest}`;
}

/** The default shown for each io-server option that has one, keyed by the long flag. */
export const HELP_DEFAULTS = {
  '--host': SERVER_DEFAULTS.host,
  '--timeout': String(SERVER_DEFAULTS.timeout),
  '--show-message': SERVER_DEFAULTS.showMessage,
  '--max-message': formatBytes(SERVER_DEFAULTS.maxMessageSize),
  '--max-backpressure': formatBytes(SERVER_DEFAULTS.maxBackpressure),
  '--slow-consumer': SERVER_DEFAULTS.slowConsumer,
  '--write-deadline': String(SERVER_DEFAULTS.writeDeadline),
  '--max-backlog': `${SERVER_DEFAULTS.backlogCapFactor} × --max-backpressure`,
  '--max-backlog-total': 'an eighth of the memory, 64 MiB to 1 GiB',
  '--max-inbound-total': 'an eighth of the memory, 64 MiB to 1 GiB',
  '--trusted-proxy': SERVER_DEFAULTS.trustedProxies.join(' '),
  '--duplicate-login': SERVER_DEFAULTS.duplicateLogin,
  '--auth-fail-delay': String(SERVER_DEFAULTS.authFailDelay),
  '--max-subscriptions': String(SERVER_DEFAULTS.maxSubscriptionsPerConnection),
  '--max-channels': String(SERVER_DEFAULTS.maxChannels),
  '--max-retained-bytes': formatBytes(SERVER_DEFAULTS.maxRetainedBytes),
  '--address-share': String(SERVER_DEFAULTS.capShares.share),
  '--login-reserve': String(SERVER_DEFAULTS.capShares.reserve),
  '--duplicate-probe': String(SERVER_DEFAULTS.duplicateProbeTimeout),
  '--max-handshakes-per-address': String(SERVER_DEFAULTS.maxHandshakesPerAddress),
  '--handshake-timeout': String(SERVER_DEFAULTS.handshakeTimeout),
  '--opening-timeout': String(SERVER_DEFAULTS.openingTimeout),
  '--max-plain-json': formatBytes(SERVER_DEFAULTS.maxPlainJson),
} as const;

export type DefaultedFlag = keyof typeof HELP_DEFAULTS;

/** An option description ending in "(default: …)" from the table. */
export function describe(text: string, flag: DefaultedFlag): string {
  return `${text} (default: ${HELP_DEFAULTS[flag]})`;
}

export const MIN_TIMEOUT_MS = SERVER_MINIMUMS.timeout;
