// What an operator chooses: the policies and bounds the options name, declared once for options.ts and for the
// rooms that apply them (the slow-consumer watch, the duplicate-login rule, the quotas, the router's retained
// store and cap shares, the login throttle, TLS, the key stores). Types only.

/** What happens to a slow consumer (`--slow-consumer`): closed, or its deliveries dropped until it drains. */
export type SlowConsumerPolicy = 'close' | 'drop';

/**
 * What happens when a device logs in while its CID is online, whichever way either session logged in:
 * `keep-old` probes the old session and refuses the newcomer if it answers; `replace` closes the old one.
 */
export type DuplicateLoginPolicy = 'keep-old' | 'replace';

/** Which quotas of the connection's level are enforced (`--quota`, §8.2). */
export interface QuotaSwitches {
  /** OVER_SIZE and drop a message over the level's signalSize. */
  signalSize: boolean;
  /** Close the connection on a violation. */
  disconnect: boolean;
  /** A publish reaches at most the level's publishCounter subscribers, the earliest first. */
  publishCounter: boolean;
  /** The level's traffic rate, as a token bucket of received bytes. */
  trafficRate: boolean;
}

/** Retained signals (§5.6): whether they are kept, and their bounds. */
export interface RetainOptions {
  /** Retained signals are kept at all. */
  isAvailable: boolean;
  /** A message must be strictly smaller than this to be retained. */
  limitSize: number;
  /** Most channel-retained entries; existing entries still update when full (Q24 fix). */
  limitCounter: number;
  /** Most CID-retained entries per connection. */
  limitPerConnection: number;
}

/** Shares of the global state caps (`--address-share`, `--login-reserve`; router/cap-shares.ts). */
export interface ShareLimits {
  /** Fraction (0–1] of each cap one owner may hold; 1 = no per-owner share. */
  share: number;
  /** Fraction [0–1) of each cap that only logged-in sessions may use; 0 = no reserve. */
  reserve: number;
}

/** The login throttle (`--login-fail-rate`, `--login-fail-burst`; guard/login-guard.ts). */
export interface LoginLimits {
  /** Failed logins per second one client address may make once its burst is spent. */
  addressRate: number;
  addressBurst: number;
  /** Failed logins per second against one device id (from any address) once its burst is spent. */
  deviceRate: number;
  deviceBurst: number;
  /** Logins from one address whose outcome is not decided yet. */
  pendingPerAddress: number;
  /** Most addresses, and most device ids, remembered at once; the least recently seen are forgotten first. */
  tracked: number;
}

/** The certificate files of `--tls-cert`, `--tls-key` and `--tls-ca` (mutual TLS). */
export interface TlsFiles {
  /** PEM certificate chain and private key of the server. */
  cert: string;
  key: string;
  /** PEM CA bundle: when given, clients must present a certificate it signed (mutual TLS). */
  ca?: string;
  passphrase?: string;
}

/** Where device keys come from (§4.2, the `auth` option); the first one given wins, in this order. */
export interface AuthSource {
  /** `-d`: a .json, .js or .mjs key file. */
  file?: string;
  /** `-e`: `id.key.cid.level,...`. */
  param?: string;
  /** `-E`: the BOHO_AUTH environment variable, same format as `param`. */
  env?: boolean;
  /** `-r`: Redis (`true` = REDIS_URL, else REDIS_HOST / REDIS_PORT, else localhost:6379; a string is a URL). */
  redis?: boolean | string;
}
