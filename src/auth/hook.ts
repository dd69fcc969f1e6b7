// `--auth-hook <url>`: logins (and, optionally, rights) decided by an HTTP service (README, Access control, "Auth hook";
// in the spirit of EMQX's HTTP authentication). One POST of JSON per login the cache cannot answer:
//   request  {version, action:"login", transport, peerhost, tls, device_id, password, token, cert_id, client_id}
//   answer   200 {result:"allow"|"deny"|"ignore", is_superuser?, device_id?, cid?, level?, rights?, expire_at?, reason?}
//            204 = ignore (the next source decides)
// Bounded every way: a time limit per decision (queueing included), a bounded answer, at most `concurrency`
// requests in flight and `queue` waiting (beyond it a login is refused at once: "overloaded"), a cache with a TTL
// (denials and ignores cached shorter), concurrent identical requests sharing one call. An answer that is not
// exactly what the contract says is a failure, never a crash; failures follow `onFailure`: `deny` (default: fail
// closed) or `ignore` (fall through to the next source), with an optional grace during which a cached allow
// that has just expired is still used while the service is failing (`staleIfErrorMs`).
import { createHash } from 'node:crypto';
import { boundedFetch, checkServiceUrl, FetchError, parseJsonBody } from './bounded-fetch.js';
import { checkCid, checkDeviceId, checkLevel, IdentityError, type ExternalIdentity } from './external-identity.js';
import { GrantsError, parseGrants } from '../access/grants.js';
import { messageOf } from './error-message.js';
import { escapeControl } from '../logging/escape.js';
import { systemClock, type Clock } from '../clock.js';

/** The `transport` field of a hook request. */
export type HookTransport = 'ws' | 'plain' | 'cong' | 'mqtt' | 'serial';

/** What the hook is asked: what the device presented, and where from. */
export interface HookRequest {
  transport: HookTransport;
  /** The client address as iosig shows it. */
  peerhost: string;
  tls: boolean;
  /** The id or MQTT username presented; null when none. */
  device_id: string | null;
  /** A bearer key or MQTT password (never logged, never cached in the clear). */
  password: string | null;
  /** A token iosig does not verify itself (opaque, or a JWT when no --jwt-* key is configured). */
  token: string | null;
  /** The device id a verified client certificate names. */
  cert_id: string | null;
  /** The MQTT client identifier. */
  client_id: string | null;
}

/** Why a hook decision failed (`iosig_auth_hook_failures_total{reason}`). */
export type HookFailure = 'timeout' | 'overloaded' | 'unreachable' | 'status' | 'bad_answer';

/** The hook's verdict on one login, and whether it came from the cache. */
export type HookDecision =
  | { kind: 'allow'; identity: ExternalIdentity; cached: boolean }
  | { kind: 'deny'; reason: string; cached: boolean }
  | { kind: 'ignore'; reason: string; cached: boolean };

/** The auth hook, its bounds and its failure policy (`--auth-hook*`). */
export interface HookOptions {
  url: string;
  /** Time limit of one decision, waiting for a slot included (default 2000 ms). */
  timeoutMs: number;
  /** Largest answer read (default 64 KiB). */
  maxBytes: number;
  /** How long an allow is reused (default 60 s; never past its expire_at). */
  cacheTtlMs: number;
  /** How long a deny or ignore is reused (default 5 s). */
  negativeTtlMs: number;
  /** Answers remembered (default 10 000; the oldest go first). */
  cacheSize: number;
  /** Requests in flight at once (default 16). */
  concurrency: number;
  /** Requests waiting for a slot (default 256); one more is refused at once. */
  queue: number;
  /** What a failure (slow, down, overloaded, a wrong answer) means: 'deny' (default) or 'ignore'. */
  onFailure: 'deny' | 'ignore';
  /** While the service fails, a cached allow that expired less than this ago is still used (default 0: off). */
  staleIfErrorMs: number;
  /** Highest level the hook may give (default 255). */
  maxLevel: number;
  /** Extra request headers (e.g. the hook's own Authorization). */
  headers?: Record<string, string>;
  log: (line: string) => void;
  clock?: Clock;
}

/** Defaults of the hook options. */
export const HOOK_DEFAULTS = {
  timeoutMs: 2000,
  maxBytes: 64 * 1024,
  cacheTtlMs: 60_000,
  negativeTtlMs: 5000,
  cacheSize: 10_000,
  concurrency: 16,
  queue: 256,
  onFailure: 'deny',
  staleIfErrorMs: 0,
  maxLevel: 255,
} as const;

/** A failed hook request, with its kind of failure. */
export class HookError extends Error {
  constructor(
    message: string,
    readonly failure: HookFailure,
  ) {
    super(message);
    this.name = 'HookError';
  }
}

type Answer = { kind: 'allow'; identity: ExternalIdentity } | { kind: 'deny'; reason: string } | { kind: 'ignore'; reason: string };

interface CacheEntry {
  answer: Answer;
  /** Reused until then. */
  until: number;
}

/** Counts of hook requests, cache hits, failures and stale answers. */
export interface HookStats {
  requests: number;
  cacheHits: number;
  failures: Record<HookFailure, number>;
  staleAnswers: number;
}

/** Reasons a service writes are shown in our log: kept short and on one line. */
const MAX_REASON = 200;

/** Asks the auth hook about logins: bounded, cached, and never rejecting. */
export class AuthHook {
  readonly url: URL;
  readonly options: HookOptions;
  readonly stats: HookStats = {
    requests: 0,
    cacheHits: 0,
    failures: { timeout: 0, overloaded: 0, unreachable: 0, status: 0, bad_answer: 0 },
    staleAnswers: 0,
  };
  private readonly clock: Clock;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<Answer>>();
  private active = 0;
  private readonly waiting: { go: () => void; timer: NodeJS.Timeout }[] = [];
  /** Failures are logged once a second at most: a dead service must not flood the log. */
  private lastFailureLog = -Infinity;
  private failuresUnlogged = 0;

  constructor(options: Partial<HookOptions> & Pick<HookOptions, 'url' | 'log'>) {
    this.options = { ...HOOK_DEFAULTS, ...options };
    this.url = checkServiceUrl(options.url, '--auth-hook');
    this.clock = options.clock ?? systemClock;
  }

  /** Decides one login; never rejects. */
  async decide(request: HookRequest): Promise<HookDecision> {
    const key = cacheKey(request);
    const now = this.clock.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now && !expired(cached.answer, now)) {
      this.stats.cacheHits++;
      return { ...cached.answer, cached: true };
    }
    let answer: Answer;
    try {
      let pending = this.inFlight.get(key);
      if (!pending) {
        pending = this.ask(request).finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, pending);
      }
      answer = await pending;
    } catch (err) {
      const error = err instanceof HookError ? err : new HookError(messageOf(err), 'bad_answer');
      return this.failed(error, cached);
    }
    this.remember(key, answer);
    return { ...answer, cached: false };
  }

  private failed(error: HookError, cached: CacheEntry | undefined): HookDecision {
    this.stats.failures[error.failure]++;
    const now = this.clock.now();
    if (
      cached &&
      cached.answer.kind === 'allow' &&
      this.options.staleIfErrorMs > 0 &&
      now - cached.until < this.options.staleIfErrorMs &&
      !expired(cached.answer, now)
    ) {
      this.stats.staleAnswers++;
      this.logFailure(`${error.message}; a cached allow answer is used (stale-if-error)`);
      return { ...cached.answer, cached: true };
    }
    const reason = `auth hook ${error.failure}: ${error.message}`;
    this.logFailure(`${error.message}; the login is ${this.options.onFailure === 'deny' ? 'refused' : 'passed to the next source'}`);
    return this.options.onFailure === 'deny' ? { kind: 'deny', reason, cached: false } : { kind: 'ignore', reason, cached: false };
  }

  private logFailure(line: string): void {
    const now = this.clock.now();
    if (now - this.lastFailureLog < 1000) {
      this.failuresUnlogged++;
      return;
    }
    const more = this.failuresUnlogged > 0 ? ` (${this.failuresUnlogged} similar lines suppressed)` : '';
    this.failuresUnlogged = 0;
    this.lastFailureLog = now;
    this.options.log(`auth hook ${this.url.origin}: ${line}${more}`);
  }

  private remember(key: string, answer: Answer): void {
    const now = this.clock.now();
    let until = now + (answer.kind === 'allow' ? this.options.cacheTtlMs : this.options.negativeTtlMs);
    if (answer.kind === 'allow' && answer.identity.expiresAt !== null) until = Math.min(until, answer.identity.expiresAt);
    if (until <= now) return;
    this.cache.delete(key);
    if (this.cache.size >= this.options.cacheSize) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(key, { answer, until });
  }

  /** One call to the service, once a slot is free; the time limit counts from the start of the wait. */
  private async ask(request: HookRequest): Promise<Answer> {
    const started = this.clock.now();
    await this.slot();
    try {
      const left = this.options.timeoutMs - (this.clock.now() - started);
      if (left <= 0) throw new HookError(`no answer within ${this.options.timeoutMs} ms (waited for a free slot)`, 'timeout');
      this.stats.requests++;
      let response: Awaited<ReturnType<typeof boundedFetch>>;
      try {
        response = await boundedFetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', ...this.options.headers },
          body: JSON.stringify({ version: 1, action: 'login', ...request }),
          timeoutMs: left,
          maxBytes: this.options.maxBytes,
        });
      } catch (err) {
        if (err instanceof FetchError) {
          const failure: HookFailure = err.kind === 'timeout' ? 'timeout' : err.kind === 'too_large' ? 'bad_answer' : 'unreachable';
          throw new HookError(err.message, failure);
        }
        throw err;
      }
      if (response.status === 204) return { kind: 'ignore', reason: 'the hook answered 204' };
      if (response.status !== 200) throw new HookError(`HTTP ${response.status}`, 'status');
      return this.answerOf(response.text, request);
    } finally {
      this.release();
    }
  }

  private slot(): Promise<void> {
    if (this.active < this.options.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    if (this.waiting.length >= this.options.queue) {
      return Promise.reject(new HookError(`${this.options.concurrency} requests in flight and ${this.options.queue} waiting`, 'overloaded'));
    }
    return new Promise((resolve, reject) => {
      const entry = {
        go: () => {
          clearTimeout(entry.timer);
          this.active++;
          resolve();
        },
        timer: setTimeout(() => {
          const at = this.waiting.indexOf(entry);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(new HookError(`no free slot within ${this.options.timeoutMs} ms`, 'timeout'));
        }, this.options.timeoutMs),
      };
      entry.timer.unref?.();
      this.waiting.push(entry);
    });
  }

  private release(): void {
    this.active--;
    this.waiting.shift()?.go();
  }

  /** Reads an answer strictly: anything the contract does not say is a bad answer. */
  private answerOf(text: string, request: HookRequest): Answer {
    let body: unknown;
    try {
      body = parseJsonBody(text, 'the answer');
    } catch (err) {
      throw new HookError(messageOf(err), 'bad_answer');
    }
    const bad = (what: string): never => {
      throw new HookError(`bad answer: ${what}`, 'bad_answer');
    };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('not a JSON object');
    const a = body as Record<string, unknown>;
    if (a['reason'] !== undefined && typeof a['reason'] !== 'string') bad('reason must be a string');
    const reason = typeof a['reason'] === 'string' ? escapeControl(a['reason'].slice(0, MAX_REASON)) : '';
    switch (a['result']) {
      case 'deny':
        return { kind: 'deny', reason: `the hook denied the login${reason ? `: ${reason}` : ''}` };
      case 'ignore':
        return { kind: 'ignore', reason: `the hook ignored the login${reason ? `: ${reason}` : ''}` };
      case 'allow':
        break;
      default:
        return bad('result must be "allow", "deny" or "ignore"');
    }
    const superuser = a['is_superuser'] ?? false;
    if (typeof superuser !== 'boolean') bad('is_superuser must be true or false');
    let expiresAt: number | null = null;
    const expireAt = a['expire_at'];
    if (expireAt !== undefined && expireAt !== null) {
      if (typeof expireAt !== 'number' || !Number.isInteger(expireAt) || expireAt <= 0) bad('expire_at must be whole seconds since 1970');
      if ((expireAt as number) > 1e11) bad('expire_at must be in seconds, not milliseconds');
      expiresAt = (expireAt as number) * 1000;
      if (expiresAt <= this.clock.now()) bad('expire_at is already past');
    }
    try {
      const did = checkDeviceId(a['device_id'] ?? request.device_id ?? request.cert_id, 'device_id');
      const cid = checkCid(a['cid'] ?? did, a['cid'] === undefined ? 'device_id used as the CID' : 'cid');
      const level = checkLevel(a['level'], 'level', this.options.maxLevel);
      const grants = parseGrants(a['rights']);
      return { kind: 'allow', identity: { via: 'hook', did, cid, level, grants, superuser: superuser as boolean, expiresAt } };
    } catch (err) {
      if (err instanceof IdentityError || err instanceof GrantsError) return bad(err.message);
      throw err;
    }
  }
}

/** The cache key: a hash of everything asked, so no password is kept in memory in the clear. */
function cacheKey(request: HookRequest): string {
  const fields = [request.transport, request.peerhost, request.tls, request.device_id, request.password, request.token, request.cert_id, request.client_id];
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64');
}

function expired(answer: Answer, now: number): boolean {
  return answer.kind === 'allow' && answer.identity.expiresAt !== null && answer.identity.expiresAt <= now;
}
