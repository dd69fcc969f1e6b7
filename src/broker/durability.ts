// What outlives the process (issue 20, docs/durability.md §10): the broker's side of the durable store. It opens
// the store the options name, reads it back into the router before anything listens, hands the router's retained
// values and the history channels' signals to it as they are kept (synchronously: the store batches them per
// turn, nothing on the publish path waits), and flushes it on a clean shutdown.
//
// CID-retained values of logged-in devices: their CID is stable, so they are kept across restarts. While the
// broker runs, a device's own close takes them out of the live view and the store (Q25, unchanged); a restart —
// clean or not — is not the device's close, so at start-up they wait here by CID and come back when the device
// logs in again, or are cleared after `cidRetainedGraceMs`.
import type { Connection } from '../connection/connection.js';
import { ChannelHistory } from '../history/channel-history.js';
import { HistoryPolicy } from '../history/policy.js';
import type { ServerOptions } from '../options.js';
import type { ShareOwner } from '../router/cap-shares.js';
import type { RouterKeeper } from '../router/extension.js';
import type { Router } from '../router/router.js';
import { durabilityFigures, type AdminTarget, type DurabilityFigures } from '../store/admin.js';
import { loadOrExplain, openStore, type OpenStoreOptions } from '../store/open.js';
import { SESSION_LOG_PREFIX, type DurableStore, type RetainedValue, type SessionData, type StoreSource } from '../store/types.js';
import { CID_PREFIX } from '../router/tags.js';
import { PositionedReaders } from './positioned.js';
import { StoredSessions } from './stored-sessions.js';
import type { DurableSessions } from '../mqtt/durable-sessions.js';
import type { MqttMessage, StoredSession } from '../mqtt/port.js';
import { MQTT_RETAINED_PREFIX, retainedFromRecord, retainedRecord } from '../mqtt/stored-message.js';

/** How often idle history channels are trimmed by age. */
const HISTORY_SWEEP_MS = 1000;
/** Commits start at least this far apart (ms): larger batches on a fast disk; a crash loses the last few ms. */
export const COMMIT_INTERVAL_MS = 2;

type Waiting = Array<[topic: string, msg: Buffer, owner: ShareOwner]>;

export class Durability implements RouterKeeper, AdminTarget {
  /** Null until open(), and without a data directory or a cluster (nothing is kept across restarts). */
  store: DurableStore | null = null;
  history: ChannelHistory | null = null;
  /** Positioned readers of history channels (`history` service, D7 deliveries). */
  readonly readers: PositionedReaders<Connection>;
  /** CID-retained values read back at start-up, by CID, until their device logs in (or the grace ends). */
  private readonly waiting = new Map<string, Waiting>();
  /** Set when the server starts closing: sessions closed by the shutdown are not devices leaving. */
  private stopping = false;
  /** In a cluster: the store is the cluster's Redis, attached once Redis answers (attachCluster). */
  private clustered = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  /** MQTT persistent sessions read back at start-up, until the MQTT side takes them (mqttSessions). */
  private storedSessions: StoredSessions | null = null;
  private sessionSource: Required<Pick<StoreSource, 'session' | 'log'>> | null = null;
  /** MQTT retained messages read back at start-up (store keys `MQ:<topic>`), until the MQTT side takes them. */
  private storedMqttRetained: MqttMessage[] = [];
  /** The MQTT side's current retained message of a topic (the store's source for `MQ:` keys). */
  private mqttRetainedNow: ((topic: string) => MqttMessage | undefined) | null = null;

  constructor(
    private readonly router: Router<Connection>,
    private readonly options: ServerOptions,
  ) {
    this.readers = new PositionedReaders<Connection>(() => this.history);
  }

  /** True when something is kept beyond the process or histories are kept. */
  get active(): boolean {
    return this.store !== null || this.history !== null;
  }

  /**
   * Opens the store (throws a StoreOpenError naming the file and the way out), reads it back into the router and
   * the histories, and starts handing writes over. `redis`: in a cluster, where the store lives instead.
   */
  async open(version: string, redis?: OpenStoreOptions['redis']): Promise<void> {
    const { options, router } = this;
    const log = (line: string): void => options.log(line);
    if (options.dataDir !== null || redis) {
      this.store = await openStore({ dataDir: options.dataDir, maxPendingBytes: options.storeMaxPending, version, log, minCommitIntervalMs: COMMIT_INTERVAL_MS, ...(redis ? { redis } : {}) });
    }
    const { store } = this;
    const policy = HistoryPolicy.parse(options.history);
    if (policy.enabled) {
      this.history = new ChannelHistory({ policy, maxBytes: options.historyMaxBytes, store, onDurable: (key, position) => this.readers.durable(key, position), log });
    }
    if (store) {
      const history = this.history;
      let retained = 0;
      let refused = 0;
      let waiting = 0;
      // MQTT sessions are read only when MQTT is served: otherwise they stay in the store untouched.
      const sessions = options.mqttPort !== undefined || options.mqttWs ? new StoredSessions() : null;
      try {
        await loadOrExplain(store, {
          retained: (key, value) => {
            // MQTT retained messages: read when MQTT is served, left alone otherwise (never the router's).
            if (key.startsWith(MQTT_RETAINED_PREFIX)) {
              if (sessions) this.storedMqttRetained.push(retainedFromRecord(key, value));
            } else if (router.restoreRetained(key, value.msg, value.owner)) retained++;
            else refused++;
          },
          cidRetained: (cid, topic, value) => {
            let values = this.waiting.get(cid);
            if (!values) this.waiting.set(cid, (values = []));
            values.push([topic, value.msg, value.owner]);
            waiting++;
          },
          ...(sessions ? { session: (clientId: string, data: SessionData) => sessions.session(clientId, data) } : {}),
          // MQTT session queues go to the sessions (left alone without MQTT); history logs to the history.
          log: (name, meta, entries) => {
            if (sessions?.log(name, meta, entries)) return;
            if (history) history.restore(name, meta, entries);
            else if (name.startsWith('h:')) store.dropLog(name);
          },
        });
        this.storedSessions = sessions;
      } catch (err) {
        await store.close().catch(() => undefined);
        this.store = null;
        throw err;
      }
      store.setSource(this.source());
      router.keeper = this;
      const { opened } = store;
      const how = opened.created ? 'created' : opened.cleanShutdown ? 'read back after a clean shutdown' : 'read back after an unclean stop (crash or SIGKILL): everything committed before it is here';
      log(`store ${store.location}: ${how}; ${retained} retained channel values${refused > 0 ? ` (${refused} over the caps, cleared)` : ''}, ${waiting} CID-retained values waiting for their devices${history ? `, ${history.figures().channels} histories` : ''}`);
      if (this.waiting.size > 0) {
        this.graceTimer = setTimeout(() => this.endGrace(), options.cidRetainedGraceMs);
        this.graceTimer.unref();
      }
    } else if (this.history) {
      router.keeper = this;
    }
    if (this.history) {
      this.sweepTimer = setInterval(() => this.history?.sweep(), HISTORY_SWEEP_MS);
      this.sweepTimer.unref();
    }
  }

  /**
   * A cluster node's store: the cluster's Redis (one store every node sees), opened once Redis answers so a node
   * starts and serves without it. It keeps CID-retained values of logged-in devices (read back at the device's login
   * on whichever node it logs in); channel-retained values stay with the cluster's own Redis keys (`<p>:r:<key>`).
   * Nothing is read at start: values wait in Redis for their device, which takes them to its node.
   */
  async attachCluster(version: string, redis: NonNullable<OpenStoreOptions['redis']>): Promise<void> {
    if (this.stopping || this.store) return;
    const log = (line: string): void => this.options.log(line);
    const store = await openStore({ dataDir: null, maxPendingBytes: this.options.storeMaxPending, version, log, minCommitIntervalMs: COMMIT_INTERVAL_MS, redis });
    if (this.stopping) {
      await store.close().catch(() => undefined);
      return;
    }
    this.store = store;
    this.clustered = true;
    store.setSource({ cidRetained: (cid, topic) => this.currentCidRetained(cid, topic) });
    this.router.keeper = this;
    // Devices that logged in before Redis answered get their values now.
    for (const conn of this.router.cids.values()) if (conn.authorized) this.loggedIn(conn);
    log(`store ${store.location}: CID-retained values of logged-in devices are kept in Redis (${redis.prefix}:cret:<cid>)`);
  }

  /** Where the store re-reads what it deferred: the router's retained values, the histories, the MQTT sessions. */
  private source(): StoreSource {
    const { history, sessionSource } = this;
    const log = (name: string, from: number): ReturnType<NonNullable<StoreSource['log']>> =>
      name.startsWith(SESSION_LOG_PREFIX) ? sessionSource?.log(name, from) : history?.source(name, from);
    return {
      retained: (key) => this.currentRetained(key),
      cidRetained: (cid, topic) => this.currentCidRetained(cid, topic),
      ...(sessionSource ? { session: sessionSource.session } : {}),
      ...(history || sessionSource ? { log } : {}),
    };
  }

  /**
   * MQTT retained messages (topics without iosig's `$`): those read back at start-up go to `restore` (false: over
   * today's bounds, cleared in the store); from now on each change is handed over (`keeper`), and the store re-reads
   * a deferred one from `current`. Nothing without a single node's store.
   */
  mqttRetained(restore: (message: MqttMessage) => boolean, current: (topic: string) => MqttMessage | undefined): ((topic: string, message: MqttMessage | null) => void) | null {
    const store = this.store;
    const found = this.storedMqttRetained;
    this.storedMqttRetained = [];
    if (store === null || this.clustered || this.options.cluster) return null;
    let refused = 0;
    for (const message of found) {
      if (restore(message)) continue;
      refused++;
      store.deleteRetained(MQTT_RETAINED_PREFIX + message.topic);
    }
    if (found.length > 0) this.options.log(`mqtt: ${found.length - refused} retained messages read back from the store${refused > 0 ? ` (${refused} over the bounds, cleared)` : ''}`);
    this.mqttRetainedNow = current;
    return (topic, message) => {
      if (this.store === null) return;
      if (message === null) this.store.deleteRetained(MQTT_RETAINED_PREFIX + topic);
      else this.store.putRetained(MQTT_RETAINED_PREFIX + topic, retainedRecord(message));
    };
  }

  /** The MQTT hub is the authority on its sessions from now on (the store re-reads them from it). */
  mqttSource(source: Required<Pick<StoreSource, 'session' | 'log'>>): void {
    this.sessionSource = source;
    if (this.store && !this.clustered) this.store.setSource(this.source());
  }

  /**
   * The MQTT side's session store on a single node's durable store: the sessions read back at start-up and the
   * journal that continues them (taken once); null without a store or in a cluster (sessions stay in memory).
   */
  mqttSessions(): { journal: DurableSessions; sessions: StoredSession[] } | null {
    const found = this.storedSessions;
    if (found === null || this.store === null || this.clustered || this.options.cluster) return null;
    this.storedSessions = null;
    return found.take(this.store);
  }

  private currentRetained(key: string): RetainedValue | undefined {
    if (key.startsWith(MQTT_RETAINED_PREFIX)) {
      const message = this.mqttRetainedNow?.(key.slice(MQTT_RETAINED_PREFIX.length));
      return message ? retainedRecord(message) : undefined;
    }
    const msg = this.router.retained.get(key);
    return msg ? { msg, owner: this.router.retainedOwner(key) } : undefined;
  }

  private currentCidRetained(cid: string, topic: string): RetainedValue | undefined {
    const live = this.router.cidRetainedEntry(cid, topic);
    if (live) return live;
    const waiting = this.waiting.get(cid)?.find(([t]) => t === topic);
    return waiting ? { msg: waiting[1], owner: waiting[2] } : undefined;
  }

  /** The grace for devices that did not come back is over: their values are cleared. */
  private endGrace(): void {
    this.graceTimer = null;
    if (this.waiting.size === 0) return;
    this.options.log(`store: ${this.waiting.size} devices did not log in within ${Math.round(this.options.cidRetainedGraceMs / 1000)} s of the start; their CID-retained values are cleared`);
    for (const cid of this.waiting.keys()) this.store?.deleteCidRetained(cid);
    this.waiting.clear();
  }

  // ---- RouterKeeper -------------------------------------------------------------------------------------------

  retained(key: string, msg: Buffer | null, owner: ShareOwner): void {
    const store = this.store;
    // In a cluster channel-retained values have their own Redis keys, written by the publishing node.
    if (store === null || this.clustered) return;
    if (msg === null) store.deleteRetained(key);
    else store.putRetained(key, { msg, owner });
  }

  cidRetained(cid: string, topic: string, msg: Buffer, owner: ShareOwner): void {
    if (this.stopping || this.store === null) return;
    this.store.putCidRetained(cid, topic, { msg, owner });
  }

  cidClosed(cid: string): void {
    if (this.stopping || this.store === null) return;
    this.store.deleteCidRetained(cid);
  }

  keepsHistory(key: string): boolean {
    return this.history !== null && this.history.policy.limitsFor(key) !== null;
  }

  published(key: string, msg: Uint8Array): void {
    // The router's message may be a view into a transient buffer; the history keeps it.
    this.history?.append(key, Buffer.from(msg));
  }

  // ---- sessions -----------------------------------------------------------------------------------------------

  /** A login was admitted: the values its CID held before the restart come back into the live view. */
  loggedIn(conn: Connection): void {
    if (this.clustered) return this.fetchCidRetained(conn);
    const values = this.waiting.get(conn.cid);
    if (!values) return;
    this.waiting.delete(conn.cid);
    const taken = this.router.restoreCidRetained(conn, values);
    if (taken < values.length) {
      // What the caps refused now is cleared in the store as well, so a later restart does not bring it back.
      const kept = new Set(this.router.retainedTopicsOf(conn));
      for (const [topic] of values) if (!kept.has(topic)) this.store?.deleteCidRetained(conn.cid, topic);
    }
  }

  /** In a cluster: the device's values from Redis, taken into the live view if it still holds its CID by then. */
  private fetchCidRetained(conn: Connection): void {
    const { cid } = conn;
    this.store?.cidRetainedOf(cid).then(
      (values) => {
        if (this.router.cids.get(cid) !== conn || values.length === 0) return;
        this.router.restoreCidRetained(conn, values.map(([topic, v]) => [topic, v.msg, v.owner] as [string, Buffer, ShareOwner]));
      },
      (err: unknown) => this.options.log(`store: the CID-retained values of ${cid} could not be read from Redis (${err instanceof Error ? err.message : String(err)})`),
    );
  }

  /** CID-retained values of a CID waiting for its device (admin, and `@$` reads of an offline device: not shown). */
  waitingTopics(cid: string): string[] {
    return (this.waiting.get(cid) ?? []).map(([topic]) => topic);
  }

  // ---- AdminTarget ----------------------------------------------------------------------------------------------

  /** The store admin listings read (in a cluster channel-retained values are not in it: the live table is read). */
  get adminStore(): DurableStore | null {
    return this.clustered ? null : this.store;
  }

  get live(): AdminTarget['live'] {
    return this.router;
  }

  clearRetained(key: string): boolean {
    if (key.startsWith(CID_PREFIX)) return false;
    return this.router.clearRetained(key);
  }

  figures(): DurabilityFigures | null {
    const { store, history } = this;
    if (!store) return history ? { store: null, history: history.figures() } : null;
    return durabilityFigures(store, history);
  }

  // ---- stop -----------------------------------------------------------------------------------------------------

  /** The server starts closing: the sessions it closes keep their CID-retained values in the store. */
  stop(): void {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.sweepTimer = this.graceTimer = null;
  }

  /** Flushes everything handed over, marks the shutdown clean and releases the store. */
  async close(): Promise<void> {
    this.stop();
    this.readers.close();
    const store = this.store;
    if (!store) return;
    this.store = null;
    this.router.keeper = null;
    try {
      await store.close();
    } catch (err) {
      // Redis or the disk away at shutdown: what was not committed is lost as in a crash, and said.
      this.options.log(`store ${store.location}: the last writes could not be flushed at shutdown (${err instanceof Error ? err.message : String(err)})`);
    }
  }
}
