// The MQTT side of a broker: every MQTT connection and session, by client identifier. It decides what the spec
// leaves to the server across connections: a second connection with the same identifier takes the session over
// [MQTT-3.1.4-3], sessions outlive their connection for their expiry and then end, Will Messages wait for their
// delay, offline sessions and queued bytes stay within their bounds. Transports hand it byte streams (`accept`);
// the broker is reached through the port only.
import { systemClock, type Clock, type Timer } from '../clock.js';
import { RC } from './codes.js';
import { MqttConnection, type MqttTransport, type PendingWillMessage, type SessionRegistry } from './connection.js';
import { MqttStats, type EngineContext } from './context.js';
import { KeepAliveSweep } from './keepalive-sweep.js';
import { resolveLimits, type MqttLimits } from './options.js';
import type { MqttBrokerPort, MqttIdentity, MqttMessage, StoredSession } from './port.js';
import { MqttSession } from './session.js';
import type { MqttGauges } from '../metrics/mqtt-sample.js';

export type { MqttGauges };

export interface MqttHubOptions {
  port: MqttBrokerPort;
  limits?: Partial<MqttLimits>;
  clock?: Clock;
  log?: (line: string) => void;
  /**
   * Every session the store held at start-up (a single node's durable store): they are taken in at once, offline,
   * subscribed and queueing, and the store is never asked for a session again (it holds no other).
   */
  restored?: readonly StoredSession[];
}

/** Who a session read back without an identity subscribes as until its client connects (no rights of a device). */
const NOBODY: MqttIdentity = Object.freeze({ cid: '', home: '', did: '', level: 0 });

/** setTimeout cannot wait longer than 2^31 - 1 ms; longer waits are chained. */
const LONGEST_TIMER = 2_147_483_647;

function afterLong(clock: Clock, ms: number, fn: () => void): Timer {
  let current: Timer;
  let cancelled = false;
  const step = (left: number): void => {
    current = clock.after(Math.min(left, LONGEST_TIMER), () => {
      if (cancelled) return;
      if (left > LONGEST_TIMER) step(left - LONGEST_TIMER);
      else fn();
    });
  };
  step(ms);
  return {
    cancel() {
      cancelled = true;
      current.cancel();
    },
  };
}

type Opened = { session: MqttSession; present: boolean };

export class MqttHub implements SessionRegistry {
  readonly stats = new MqttStats();
  readonly limits: Readonly<MqttLimits>;
  private readonly ctx: EngineContext;
  private readonly sessions = new Map<string, MqttSession>();
  /** Sessions without a connection, the one offline longest first. */
  private readonly offline = new Map<string, MqttSession>();
  private readonly owners = new Map<string, MqttConnection>();
  private readonly connections = new Set<MqttConnection>();
  private readonly opening = new Map<string, Promise<Opened>>();
  private queuedBytes = 0;
  private closing = false;
  /** True when every stored session was taken in at start-up (`restored`). */
  private readonly holdsAll: boolean;

  constructor(options: MqttHubOptions) {
    this.limits = resolveLimits(options.limits);
    const log = options.log ?? (() => {});
    const clock = options.clock ?? systemClock;
    this.ctx = {
      limits: this.limits,
      port: options.port,
      journal: options.port.sessions.journal ?? null,
      clock,
      stats: this.stats,
      keepAlive: new KeepAliveSweep(clock),
      log: (line) => {
        try {
          log(line);
        } catch {
          // A failing logger must not take a connection with it.
        }
      },
      reserveQueueBytes: (bytes, force = false) => {
        if (!force && this.queuedBytes + bytes > this.limits.maxQueuedBytesTotal) return false;
        this.queuedBytes += bytes;
        return true;
      },
      releaseQueueBytes: (bytes) => {
        this.queuedBytes = Math.max(0, this.queuedBytes - bytes);
      },
    };
    this.holdsAll = options.restored !== undefined;
    if (options.restored) this.adoptAll(options.restored);
  }

  /**
   * Sessions read back at start-up, oldest offline first: each is subscribed again and queues from now on; its
   * expiry runs from when it went offline (from now for one a connection held when the process stopped). Expired
   * ones leave the store; past maxOfflineSessions the oldest go, as they would have while running.
   */
  private adoptAll(restored: readonly StoredSession[]): void {
    const now = this.ctx.clock.now();
    const since = (s: StoredSession): number => (s.online ? now : s.disconnectedAt);
    let expired = 0;
    for (const stored of [...restored].sort((a, b) => since(a) - since(b))) {
      const left = since(stored) + stored.expiry * 1000 - now;
      if (stored.expiry === 0 || left <= 0 || this.sessions.has(stored.clientId)) {
        expired++;
        this.storeDelete(stored.clientId);
        continue;
      }
      const session = new MqttSession(stored.clientId, stored.identity ?? NOBODY, this.ctx);
      session.disconnectedAt = since(stored);
      this.sessions.set(stored.clientId, session);
      try {
        session.restore(stored);
      } catch (err) {
        this.sessions.delete(stored.clientId);
        session.end();
        this.stats.internalErrors++;
        this.ctx.log(`mqtt: stored session ${JSON.stringify(stored.clientId)} could not be restored: ${String(err)}`);
        continue;
      }
      this.goneOffline(session, left);
    }
    this.stats.sessionsExpired += expired;
    if (restored.length > 0) this.ctx.log(`mqtt: ${restored.length - expired} persistent sessions read back from the store${expired > 0 ? ` (${expired} expired meanwhile, dropped)` : ''}`);
  }

  /** A new network connection: feed it bytes with `feed`, tell it about the close with `transportClosed`. */
  accept(transport: MqttTransport): MqttConnection {
    const conn = new MqttConnection(this.ctx, this, transport);
    if (this.closing) conn.disconnect(RC.SERVER_SHUTTING_DOWN, 'server shutting down', false);
    else this.connections.add(conn);
    return conn;
  }

  gauges(): MqttGauges {
    let inflight = 0;
    let queued = 0;
    for (const s of this.sessions.values()) {
      inflight += s.inflight.size;
      queued += s.queued;
    }
    return { connections: this.connections.size, sessions: this.sessions.size, offlineSessions: this.offline.size, inflight, queued, queuedBytes: this.queuedBytes };
  }

  /** The open network connections (status pages, the dashboard). */
  get openConnections(): ReadonlySet<MqttConnection> {
    return this.connections;
  }

  /** The session of `clientId`, for inspection (tests, status pages). */
  session(clientId: string): MqttSession | undefined {
    return this.sessions.get(clientId);
  }

  // ---- SessionRegistry --------------------------------------------------------------------------------------------

  open(conn: MqttConnection, clientId: string, cleanStart: boolean, identity: MqttIdentity): Opened | Promise<Opened> {
    const pending = this.opening.get(clientId);
    if (pending) return pending.then(() => this.open(conn, clientId, cleanStart, identity));
    const existing = this.sessions.get(clientId);
    if (existing) return this.openExisting(conn, existing, cleanStart, identity);
    if (cleanStart || this.holdsAll) return { session: this.create(conn, clientId, identity), present: false };
    const stored = this.ctx.port.sessions.get(clientId);
    if (stored instanceof Promise) {
      const loading = stored.then((s) => this.openLoaded(conn, clientId, identity, s));
      this.opening.set(clientId, loading);
      const done = (): void => {
        if (this.opening.get(clientId) === loading) this.opening.delete(clientId);
      };
      loading.then(done, done);
      return loading;
    }
    return this.openLoaded(conn, clientId, identity, stored);
  }

  private openExisting(conn: MqttConnection, existing: MqttSession, cleanStart: boolean, identity: MqttIdentity): Opened | Promise<Opened> {
    const clientId = existing.clientId;
    const old = this.owners.get(clientId);
    if (old && old !== conn && !old.closed) {
      this.connections.delete(old);
      const will = old.takeOver();
      // The old connection's Will: published when its delay is 0 or the session ends now; otherwise the new
      // connection came within the delay and it is dropped [MQTT-3.1.3-9 note, MQTT 5 §3.1.2.5].
      if (will && (will.delay === 0 || cleanStart || existing.expiry === 0)) this.publishWill(existing, will.message);
      existing.disconnectedAt = this.ctx.clock.now();
    }
    if (existing.pendingWill) {
      const will = existing.pendingWill;
      existing.pendingWill = null;
      will.cancel();
      if (cleanStart) this.publishWill(existing, will.message);
    }
    existing.expiryTimer?.cancel();
    existing.expiryTimer = null;
    this.offline.delete(clientId);
    if (cleanStart || existing.expiry === 0) {
      this.endSession(existing, 'clean start');
      return this.open(conn, clientId, true, identity);
    }
    existing.rebind(identity);
    this.owners.set(clientId, conn);
    return { session: existing, present: true };
  }

  private openLoaded(conn: MqttConnection, clientId: string, identity: MqttIdentity, stored: StoredSession | undefined): Opened {
    const raced = this.sessions.get(clientId);
    if (raced) {
      const r = this.openExisting(conn, raced, false, identity);
      if (!(r instanceof Promise)) return r;
    }
    const session = this.create(conn, clientId, identity);
    if (stored && stored.disconnectedAt + stored.expiry * 1000 > this.ctx.clock.now()) {
      session.restore(stored);
      return { session, present: true };
    }
    if (stored) this.storeDelete(clientId);
    return { session, present: false };
  }

  private create(conn: MqttConnection, clientId: string, identity: MqttIdentity): MqttSession {
    const session = new MqttSession(clientId, identity, this.ctx);
    this.sessions.set(clientId, session);
    this.owners.set(clientId, conn);
    return session;
  }

  ended(conn: MqttConnection, session: MqttSession | null, will: PendingWillMessage | null, _reason: string): void {
    this.connections.delete(conn);
    if (!session) return;
    if (this.owners.get(session.clientId) !== conn) return; // taken over: the new connection owns it
    this.owners.delete(session.clientId);
    if (session.ended) return;
    session.detach(conn);
    session.disconnectedAt = this.ctx.clock.now();
    if (will && !this.closing) {
      if (will.delay === 0 || session.expiry === 0) this.publishWill(session, will.message);
      else {
        const timer = afterLong(this.ctx.clock, will.delay * 1000, () =>
          this.safely('will delay', () => {
            session.pendingWill = null;
            this.publishWill(session, will.message);
          }),
        );
        session.pendingWill = { message: will.message, cancel: () => timer.cancel() };
      }
    }
    if (session.expiry === 0) {
      this.endSession(session, 'connection closed');
      return;
    }
    this.goneOffline(session, session.expiry * 1000);
    // A journaled session is in the store change by change: only its record changes (offline, since when).
    if (this.ctx.journal) session.journalRecord();
    else this.storePut(session);
  }

  /** The session has no connection: it ends after `ms` unless one resumes it; the offline bound applies. */
  private goneOffline(session: MqttSession, ms: number): void {
    this.offline.delete(session.clientId);
    this.offline.set(session.clientId, session);
    session.expiryTimer = afterLong(this.ctx.clock, ms, () =>
      this.safely('session expiry', () => {
        this.stats.sessionsExpired++;
        this.endSession(session, 'expired');
      }),
    );
    while (this.offline.size > this.limits.maxOfflineSessions) {
      const [, oldest] = this.offline.entries().next().value!;
      this.stats.sessionsEvicted++;
      this.endSession(oldest, 'too many offline sessions');
    }
  }

  /** Timer callbacks run here: an exception from the broker is counted and logged, never thrown into the loop. */
  private safely(where: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.stats.internalErrors++;
      this.ctx.log(`mqtt: internal error in ${where}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private publishWill(session: MqttSession, message: MqttMessage): void {
    this.stats.willsPublished++;
    try {
      this.ctx.port.publish(message, { clientId: session.clientId, identity: session.identity, session });
    } catch (err) {
      this.stats.internalErrors++;
      this.ctx.log(`mqtt: will of ${JSON.stringify(session.clientId)} failed: ${String(err)}`);
    }
  }

  private endSession(session: MqttSession, _why: string): void {
    if (session.ended) return;
    if (session.pendingWill) {
      const will = session.pendingWill;
      session.pendingWill = null;
      will.cancel();
      if (!this.closing) this.publishWill(session, will.message); // the session ends before the delay [MQTT 5 §3.1.2.5]
    }
    session.end();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    if (this.offline.get(session.clientId) === session) this.offline.delete(session.clientId);
    this.storeDelete(session.clientId);
  }

  private storePut(session: MqttSession): void {
    this.storeCall('put', () => this.ctx.port.sessions.put(session.snapshot()));
  }

  private storeDelete(clientId: string): void {
    this.storeCall('delete', () => this.ctx.port.sessions.delete(clientId));
  }

  private storeCall(what: string, fn: () => void | Promise<void>): void {
    const failed = (err: unknown): void => this.ctx.log(`mqtt: session store ${what} failed: ${String(err)}`);
    try {
      const r = fn();
      if (r instanceof Promise) r.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  /**
   * Closes every connection (MQTT 5 clients get DISCONNECT 0x8B) and stops every timer. Sessions with an expiry
   * are in the session store; pending Wills are not published on a shutdown.
   */
  close(): void {
    this.closing = true;
    for (const conn of [...this.connections]) conn.disconnect(RC.SERVER_SHUTTING_DOWN, 'server shutting down', false);
    this.ctx.keepAlive.stop();
    for (const session of this.sessions.values()) {
      session.expiryTimer?.cancel();
      session.expiryTimer = null;
      session.pendingWill?.cancel();
      session.pendingWill = null;
    }
  }
}
