// Server options with their defaults (docs/protocol.md §9.1, plus iosig's own limits).
import type { AuthSource, DuplicateLoginPolicy, LoginLimits, QuotaSwitches, RetainOptions, ShareLimits, SlowConsumerPolicy, TlsFiles } from './policies.js';
import { DEFAULT_LEVEL, ADMIN_LEVEL, MIN_FRAME_LIMIT } from './protocol/codes.js';
import { escapingLog } from './logging/escape.js';
import { HistoryPolicy } from './history/policy.js';
import { DEFAULT_HISTORY_MAX_BYTES } from './history/channel-history.js';
import { DEFAULT_MAX_PENDING_BYTES } from './store/write-behind.js';
import { resolveClusterOptions, type ClusterOptions, type ClusterOptionsInput } from './cluster/cluster-options.js';
import { resolveLoginLimits } from './guard/login-guard.js';
import { DEFAULT_ASYNC_FROM } from './crypto/seal-pool.js';
import {
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  defaultMaxConnections,
  defaultMaxHandshakes,
  openFileLimit,
} from './guard/admission.js';
import { defaultFdReserve } from './transport/descriptor-guard.js';
import { DEFAULT_MAX_PLAIN_JSON } from './plain/to-device.js';
import { systemClock, type Clock } from './clock.js';
import { totalmem } from 'node:os';
import type { WorkerPrimary } from './workers/primary-link.js';
import { DEFAULT_SHARE_LIMITS } from './router/cap-shares.js';
import { resolveAccessOptions, type AccessOptions, type AccessOptionsInput } from './access/access-options.js';
import { resolveMqttServerLimits, type MqttServerLimits } from './mqtt/options.js';

export type { AuthSource, DuplicateLoginPolicy, LoginLimits, QuotaSwitches, RetainOptions, ShareLimits, SlowConsumerPolicy, TlsFiles };

/** Every option of a server, resolved: defaults applied, floors enforced (`resolveOptions`). */
export interface ServerOptions {
  /** WebSocket port; 0 picks a free port; undefined = no WebSocket listener. */
  port?: number;
  /** CongSocket port; 0 picks a free port; undefined = no CongSocket listener. */
  congPort?: number;
  /** MQTT port (`-M`, MQTT 3.1.1 and 5 over TCP, TLS with `tls`); 0 picks a free port; undefined = no MQTT listener. */
  mqttPort?: number;
  /** MQTT over WebSocket on the WebSocket port (subprotocol `mqtt`, any path); off unless asked for. */
  mqttWs: boolean;
  /** The MQTT side's bounds (src/mqtt/options.ts and the port's retained store), resolved. */
  mqtt: MqttServerLimits;
  /** Address to bind both listeners to; the default `::` is dual-stack (IPv4 only on a host without IPv6). */
  host: string;
  /** Keepalive sweep period in ms (clamped to ≥ 1000, Q17). */
  timeout: number;
  /** Largest accepted message in bytes (WebSocket payload and CongSocket frame), Q7. */
  maxMessageSize: number;
  /**
   * Bytes a receiver may leave unread before the slow-consumer policy applies, judged on what the socket still
   * holds: a receiver with nothing pending always takes one message up to `maxMessageSize`, so one receiver
   * holds at most `maxBackpressure + maxMessageSize`.
   */
  maxBackpressure: number;
  slowConsumer: SlowConsumerPolicy;
  /**
   * How long a receiver may hold more than `maxBackpressure` before the slow-consumer policy applies (ms): a reader
   * busy for a moment catches up; one that stopped reading does not. 0: the policy applies at once.
   */
  writeDeadline: number;
  /** The hard cap of one receiver's backlog: past it the policy applies at once (default 4 × maxBackpressure). */
  maxBacklog: number;
  /** What the receivers over `maxBackpressure` may hold together; past it the most-behind get the policy first. */
  maxBacklogTotal: number;
  /**
   * What large CongSocket frames still arriving may hold together (their bodies are allocated at the header); one
   * client address at most a quarter of it, or one message if more. A frame past either closes its connection.
   */
  maxInboundTotal: number;
  /** Most channels one connection may subscribe to; more are refused (counted, logged). */
  maxSubscriptionsPerConnection: number;
  /** Most channels in the broker; subscribing to a new channel past it is refused. */
  maxChannels: number;
  /** Bytes of retained messages kept in all (channel- and CID-retained); new ones past it are refused. */
  maxRetainedBytes: number;
  /**
   * Shares of the global state caps (channels, retained bytes, retained channels): what one client address (or one
   * logged-in device) may hold, and the part only logged-in sessions may use (src/router/cap-shares.ts).
   */
  capShares: ShareLimits;
  /** How long an old session has to answer the probe of a duplicate login before it is closed as stale (ms). */
  duplicateProbeTimeout: number;
  /** Addresses whose X-Forwarded-For / X-Forwarded-Proto headers are believed (Q28). */
  trustedProxies: string[];
  membersOnly: boolean;
  /** Key store; none = authentication off (AUTH_REQ gets AUTH_FAIL, Q18). */
  auth: AuthSource | null;
  duplicateLogin: DuplicateLoginPolicy;
  /** Delay before AUTH_FAIL is sent, in ms (§4.4); a refused bearer login is closed after it too. */
  authFailDelay: number;
  /**
   * Accept `Authorization: Bearer` on a connection that is neither TLS nor from the host itself (the key crossed
   * the network in clear). Off: such a login is refused; on (labs): accepted, with one warning in the log.
   */
  allowCleartextBearer: boolean;
  /** Most open connections over both transports (0 = no cap); default: the soft descriptor limit less a reserve. */
  maxConnections: number;
  /** Most open connections from one client address (0 = no cap). */
  maxConnectionsPerAddress: number;
  /**
   * Most sockets still opening — in their TLS handshake, or before their first CongSocket frame or (through the
   * mutual-TLS front) their WebSocket request — over both transports (0 = no cap); default: a quarter of the
   * default global connection cap.
   */
  maxHandshakes: number;
  /** Most such sockets from one client address (0 = no cap). */
  maxHandshakesPerAddress: number;
  /** A TLS handshake (CongSocket over TLS, the mutual-TLS front) must finish within this many ms of the accept. */
  handshakeTimeout: number;
  /** After the accept (and the TLS handshake), the first CongSocket frame or the WebSocket request head through the mutual-TLS front must come within this many ms. */
  openingTimeout: number;
  /**
   * Descriptors held spare while the uWS listeners accept and let go when descriptors run short and they pause
   * (README, Security); 0 turns the descriptor guard off. Default: 1/16 of the soft open-file limit, 32 to 256.
   */
  fdReserve: number;
  /** Period in ms of the check of logged-in sessions against a Redis key store (revocation); 0 = off. */
  sessionAuditMs: number;
  /** Brute-force throttle on logins, per client address and per device id (README, Security). */
  loginLimits: LoginLimits;
  /** Serve wss and CongSocket over TLS. */
  tls: TlsFiles | null;
  /** Directory for connection.log, auth.log and attack.log (`-f`); null = off. */
  fileLogDir: string | null;
  /** Bearer token for the admin HTTP API and the dashboard's sending/reading beyond counters; null = none. */
  adminToken: string | null;
  /** Serve `/metrics`, `/api/status` and the dashboard on the WebSocket port. */
  http: boolean;
  /** Path prefix of the plain WebSocket endpoint (`/plain/<channel>[,<channel>…]`); null = off. */
  plainPrefix: string | null;
  /**
   * Largest JSON the plain endpoint parses: a device's JSON envelope (bigger: refused) and the OBJECT, MJSON or
   * MBA payload it shows a JSON device as JSON (bigger: base64). Parsing costs the event loop about 50 ns a byte.
   */
  maxPlainJson: number;
  useQuota: QuotaSwitches;
  defaultQuotaLevel: number;
  adminLevel: number;
  retain: RetainOptions;
  /** `message` logs every received message (§9.2 `-s`). */
  showMessage: 'none' | 'message';
  /** Where log lines go; defaults to console.log. */
  log: (line: string) => void;
  /** Worker threads that seal/open large encrypted messages (default: cores − 1, 1 to 4). */
  sealThreads: number | undefined;
  /** Encrypted messages from this many bytes on are sealed/opened off the event loop (default 64 KiB). */
  sealAsyncFrom: number;
  /** Cluster membership over Redis (`--cluster`); null = a single node. */
  cluster: ClusterOptions | null;
  /**
   * Access control and outside identities (issue 18, README Security): ACL rules (file, text, Redis), JWT logins,
   * the auth hook, per-level rates and new-connection rates. Every field off by default: behaviour as before.
   */
  access: AccessOptions;
  /**
   * Where durable state is kept (docs/durability.md): `<dataDir>/iosig.mdb` (LMDB); null = nowhere (everything in
   * memory, lost on restart). In a cluster the store is Redis whatever this says.
   */
  dataDir: string | null;
  /** Bytes handed to the store and not yet committed; past it only names are kept (`--store-max-pending`). */
  storeMaxPending: number;
  /** Channels keeping a history: `<pattern>=<count>[/<seconds>]` each (`--history`), checked by resolveOptions. */
  history: readonly string[];
  /** All histories together (`--history-max-bytes`). */
  historyMaxBytes: number;
  /**
   * How long CID-retained values read back from the store wait for their device to log in again (ms); past it
   * they are cleared (`--cid-retained-grace`, seconds).
   */
  cidRetainedGraceMs: number;
  /**
   * @internal Set by `io-server --workers` in each worker: the link to the primary, which keeps the host-wide
   * connection caps and login throttle and the supervisor's figures (src/workers/). Null: one process.
   */
  primary: WorkerPrimary | null;
  /**
   * @internal For tests: the time source of the keepalive sweep, the AUTH_FAIL delay, the quota and login-throttle
   * buckets (src/clock.ts). Default: the system clock. Not a command-line option; limits such as the ≥ 1000 ms
   * timeout still apply to the values, only the passing of time is in the caller's hands.
   */
  clock: Clock;
}

/** What `createServer` takes: any option (a port at least), nested ones in part. */
export type ServerOptionsInput = Partial<Omit<ServerOptions, 'useQuota' | 'retain' | 'loginLimits' | 'cluster' | 'capShares' | 'access' | 'mqtt'>> & {
  /** Access rules, JWT, auth hook and rates (any of them; the rest stay off). */
  access?: AccessOptionsInput;
  /** MQTT bounds; every one has a default (README, MQTT). */
  mqtt?: Partial<MqttServerLimits>;
  /** `share`: fraction of each global state cap one owner may hold (default 0.1); `reserve`: the logged-in part (0.1). */
  capShares?: Partial<ShareLimits>;
  /** Join a cluster over Redis (issue 10); null/undefined = a single node. */
  cluster?: ClusterOptionsInput | null;
  useQuota?: Partial<QuotaSwitches>;
  loginLimits?: Partial<LoginLimits>;
  retain?: Partial<RetainOptions>;
};

/**
 * Every server default, defined once: `resolveOptions` applies them and `io-server --help` prints them
 * (src/cli/server-help.ts), so the two cannot disagree.
 */
export const SERVER_DEFAULTS = {
  host: '::',
  /** Keepalive sweep period in ms. */
  timeout: 50_000,
  maxMessageSize: MIN_FRAME_LIMIT,
  /**
   * A receiver holds at most maxBackpressure + one message (≤ maxMessageSize): 36 MiB by default. Coherent with
   * maxMessageSize: a receiver within its limit takes one more message of any accepted size.
   */
  maxBackpressure: 16 * 1024 * 1024,
  slowConsumer: 'close' as SlowConsumerPolicy,
  /** A reader may stay over maxBackpressure this long (ms) before the slow-consumer policy applies. */
  writeDeadline: 10_000,
  /** maxBacklog, the hard cap per receiver, is this many times maxBackpressure unless given. */
  backlogCapFactor: 4,
  /** Channels one connection may subscribe to. */
  maxSubscriptionsPerConnection: 10_000,
  /** Channels in the broker. */
  maxChannels: 100_000,
  /** Bytes of retained signals, channel- and CID-retained together. */
  maxRetainedBytes: 64 * 1024 * 1024,
  /** One address (or logged-in device) holds at most 10 % of each of those caps; the last 10 % is for logged-in sessions. */
  capShares: DEFAULT_SHARE_LIMITS,
  /** keep-old: how long the old session of a duplicate login has to answer the probe (ms). */
  duplicateProbeTimeout: 2_000,
  trustedProxies: ['127.0.0.1', '::1'] as readonly string[],
  membersOnly: false,
  duplicateLogin: 'keep-old' as DuplicateLoginPolicy,
  /** Delay before AUTH_FAIL in ms (§4.4). */
  authFailDelay: 600,
  allowCleartextBearer: false,
  /** Connections from one client address (the global cap is derived from the open-file limit). */
  maxConnectionsPerAddress: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  /** Sockets still opening from one client address (the global budget is derived from the open-file limit). */
  maxHandshakesPerAddress: DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  /** ms from the accept to the end of a TLS handshake. */
  handshakeTimeout: 10_000,
  /** ms from the accept (or the end of the TLS handshake) to the first CongSocket frame or the request head at the TLS front. */
  openingTimeout: 10_000,
  /** Period in ms of the revocation check of logged-in sessions against a Redis key store. */
  sessionAuditMs: 5000,
  http: true,
  plainPrefix: '/plain/' as string | null,
  /** JSON the plain endpoint parses (a 1 MiB envelope of small objects: ~20-60 ms of parsing). */
  maxPlainJson: DEFAULT_MAX_PLAIN_JSON,
  defaultQuotaLevel: DEFAULT_LEVEL,
  adminLevel: ADMIN_LEVEL,
  showMessage: 'none' as ServerOptions['showMessage'],
  useQuota: { signalSize: false, disconnect: false, publishCounter: false, trafficRate: false } as Readonly<QuotaSwitches>,
  retain: { isAvailable: true, limitSize: 100_000, limitCounter: 1000, limitPerConnection: 1000 } as Readonly<RetainOptions>,
  /** Encrypted messages from this size on are sealed/opened in the seal pool (README, large encrypted messages). */
  sealAsyncFrom: DEFAULT_ASYNC_FROM,
  /** Durable state: in memory unless a data directory is given (`npm start` passes ./data). */
  dataDir: null as string | null,
  storeMaxPending: DEFAULT_MAX_PENDING_BYTES,
  historyMaxBytes: DEFAULT_HISTORY_MAX_BYTES,
  cidRetainedGraceMs: 3_600_000,
} as const;

/** Floors applied to user values (Q17: a sweep shorter than a second would close healthy peers). */
export const SERVER_MINIMUMS = {
  timeout: 1000,
  maxMessageSize: 256,
  /** Floor of handshakeTimeout and openingTimeout (ms): a deadline that short would only cut real clients. */
  openingTimeout: 100,
} as const;

/**
 * The default budget for the backlogs of all receivers behind: an eighth of the machine's memory, between
 * 64 MiB and 1 GiB.
 */
export function defaultBacklogTotal(memory = totalmem()): number {
  return Math.min(1024 * 1024 * 1024, Math.max(64 * 1024 * 1024, Math.floor(memory / 8)));
}

/** A share must leave something (0 < share ≤ 1), a reserve must leave something to anonymous sessions (0 ≤ reserve < 1). */
function resolveShareLimits(input: Partial<ShareLimits> = {}): ShareLimits {
  const share = input.share ?? SERVER_DEFAULTS.capShares.share;
  const reserve = input.reserve ?? SERVER_DEFAULTS.capShares.reserve;
  if (!(share > 0 && share <= 1)) throw new Error(`iosig: the address share must be above 0 and at most 1, got ${share}`);
  if (!(reserve >= 0 && reserve < 1)) throw new Error(`iosig: the login reserve must be at least 0 and below 1, got ${reserve}`);
  return { share, reserve };
}

/** The `--history` rules as given, once they are known to parse (the broker parses them again for its policy). */
function checkedHistory(specs: readonly string[]): readonly string[] {
  HistoryPolicy.parse(specs);
  return [...specs];
}

/** `plain` → `/plain/`: the prefix is matched against request paths, so it starts and ends with a slash. */
function plainPrefixPath(prefix: string | null): string | null {
  if (prefix === null) return null;
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? null : `/${trimmed}/`;
}

/** The options with every default applied; throws, naming the option, on a value it cannot take. */
export function resolveOptions(input: ServerOptionsInput = {}): ServerOptions {
  if (input.port === undefined && input.congPort === undefined && input.mqttPort === undefined) {
    throw new Error('iosig: give a WebSocket port, a CongSocket port, an MQTT port, or several');
  }
  if (input.mqttWs === true && input.port === undefined) throw new Error('iosig: MQTT over WebSocket needs the WebSocket port (-l)');
  const d = SERVER_DEFAULTS;
  const maxBackpressure = input.maxBackpressure ?? d.maxBackpressure;
  const fileLimit = openFileLimit();
  return {
    port: input.port,
    congPort: input.congPort,
    mqttPort: input.mqttPort,
    mqttWs: input.mqttWs ?? false,
    mqtt: resolveMqttServerLimits(input.mqtt),
    host: input.host ?? d.host,
    timeout: Math.max(SERVER_MINIMUMS.timeout, input.timeout ?? d.timeout),
    maxMessageSize: Math.max(SERVER_MINIMUMS.maxMessageSize, input.maxMessageSize ?? d.maxMessageSize),
    maxBackpressure,
    slowConsumer: input.slowConsumer ?? d.slowConsumer,
    writeDeadline: Math.max(0, input.writeDeadline ?? d.writeDeadline),
    maxBacklog: Math.max(maxBackpressure, input.maxBacklog ?? maxBackpressure * d.backlogCapFactor),
    maxBacklogTotal: input.maxBacklogTotal ?? defaultBacklogTotal(),
    maxInboundTotal: input.maxInboundTotal ?? defaultBacklogTotal(),
    maxSubscriptionsPerConnection: input.maxSubscriptionsPerConnection ?? d.maxSubscriptionsPerConnection,
    maxChannels: input.maxChannels ?? d.maxChannels,
    maxRetainedBytes: input.maxRetainedBytes ?? d.maxRetainedBytes,
    capShares: resolveShareLimits(input.capShares),
    duplicateProbeTimeout: input.duplicateProbeTimeout ?? d.duplicateProbeTimeout,
    trustedProxies: input.trustedProxies ?? [...d.trustedProxies],
    membersOnly: input.membersOnly ?? d.membersOnly,
    auth: input.auth ?? null,
    duplicateLogin: input.duplicateLogin ?? d.duplicateLogin,
    authFailDelay: input.authFailDelay ?? d.authFailDelay,
    allowCleartextBearer: input.allowCleartextBearer ?? d.allowCleartextBearer,
    loginLimits: resolveLoginLimits(input.loginLimits),
    sessionAuditMs: input.sessionAuditMs ?? d.sessionAuditMs,
    maxConnections: input.maxConnections ?? defaultMaxConnections(fileLimit),
    maxConnectionsPerAddress: input.maxConnectionsPerAddress ?? d.maxConnectionsPerAddress,
    maxHandshakes: input.maxHandshakes ?? defaultMaxHandshakes(fileLimit),
    maxHandshakesPerAddress: input.maxHandshakesPerAddress ?? d.maxHandshakesPerAddress,
    handshakeTimeout: Math.max(SERVER_MINIMUMS.openingTimeout, input.handshakeTimeout ?? d.handshakeTimeout),
    openingTimeout: Math.max(SERVER_MINIMUMS.openingTimeout, input.openingTimeout ?? d.openingTimeout),
    fdReserve: input.fdReserve ?? defaultFdReserve(fileLimit),
    tls: input.tls ?? null,
    fileLogDir: input.fileLogDir ?? null,
    adminToken: input.adminToken ?? process.env.IOSIG_ADMIN_TOKEN ?? null,
    http: input.http ?? d.http,
    plainPrefix: input.plainPrefix === undefined ? d.plainPrefix : plainPrefixPath(input.plainPrefix),
    maxPlainJson: input.maxPlainJson ?? d.maxPlainJson,
    useQuota: { ...d.useQuota, ...input.useQuota },
    defaultQuotaLevel: input.defaultQuotaLevel ?? d.defaultQuotaLevel,
    adminLevel: input.adminLevel ?? d.adminLevel,
    retain: { ...d.retain, ...input.retain },
    showMessage: input.showMessage ?? d.showMessage,
    // Every line is escaped at the sink: client-chosen strings cannot break lines or send terminal escapes.
    log: escapingLog(input.log ?? ((line: string) => console.log(line))),
    sealThreads: input.sealThreads,
    sealAsyncFrom: input.sealAsyncFrom ?? d.sealAsyncFrom,
    cluster: input.cluster ? resolveClusterOptions(input.cluster) : null,
    access: resolveAccessOptions(input.access),
    dataDir: input.dataDir ?? d.dataDir,
    storeMaxPending: input.storeMaxPending ?? d.storeMaxPending,
    history: checkedHistory(input.history ?? []),
    historyMaxBytes: input.historyMaxBytes ?? d.historyMaxBytes,
    cidRetainedGraceMs: input.cidRetainedGraceMs ?? d.cidRetainedGraceMs,
    clock: input.clock ?? systemClock,
    primary: input.primary ?? null,
  };
}
