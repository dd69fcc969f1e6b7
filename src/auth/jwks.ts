// A JWKS endpoint, fetched, cached and rotated (README, Access control, "JWT logins"):
// - fetched at start and again when the set is older than `maxAgeMs` (in the background: logins go on with the
//   set in hand meanwhile);
// - a token naming an unknown `kid` fetches again at once, but at most once per `cooldownMs`, so a flood of
//   made-up kids costs one request per cool-down, not one per token;
// - each fetch has a time limit and a size bound; a set that cannot be fetched or read keeps the last good one
//   (logged once per outage); only before any set was ever read do logins fail ("no key set").
// Only public asymmetric keys are kept: a symmetric (`oct`) or private key in a published set is dropped, so a
// token can never be checked against a key its signer could have published as a shared secret.
import { createLocalJWKSet, type FlattenedJWSInput, type JSONWebKeySet, type JWK, type JWSHeaderParameters } from 'jose';
import { boundedFetch, checkServiceUrl, FetchError, parseJsonBody } from './bounded-fetch.js';
import { messageOf } from './error-message.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';

/** A JWKS URL and the bounds of fetching it. */
export interface JwksOptions {
  url: string;
  /** Time limit of one fetch (default 5000 ms). */
  timeoutMs: number;
  /** Age after which the set is fetched again in the background (default 10 min). */
  maxAgeMs: number;
  /** Least time between two fetches caused by unknown key ids (default 30 s). */
  cooldownMs: number;
  /** Largest answer read (default 1 MiB). */
  maxBytes: number;
  /** Most keys kept from one set (default 100). */
  maxKeys: number;
  log: (line: string) => void;
  clock?: Clock;
}

/** Defaults of the JWKS bounds. */
export const JWKS_DEFAULTS = { timeoutMs: 5000, maxAgeMs: 600_000, cooldownMs: 30_000, maxBytes: 1024 * 1024, maxKeys: 100 } as const;

/** Thrown to the verifier: no set was ever read, or the token's key is not in the set (after any refetch allowed). */
export class JwksError extends Error {
  constructor(
    message: string,
    readonly kind: 'unavailable' | 'unknown_key',
  ) {
    super(message);
    this.name = 'JwksError';
  }
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;
type ResolvedKey = Awaited<ReturnType<KeyResolver>>;

const ASYMMETRIC = new Set(['RSA', 'EC', 'OKP']);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/** A JWKS endpoint, fetched, cached and rotated. */
export class JwksSource {
  readonly url: URL;
  private resolver: KeyResolver | null = null;
  private keyCountOwn = 0;
  private fetchedAt = -Infinity;
  /** When the last fetch caused by an unknown kid started (the cool-down counts from it). */
  private unknownKidFetchAt = -Infinity;
  private inFlight: Promise<boolean> | null = null;
  private outage = false;
  private readonly clock: Clock;
  fetches = 0;

  constructor(private readonly options: JwksOptions) {
    this.url = checkServiceUrl(options.url, 'JWKS');
    this.clock = options.clock ?? systemClock;
  }

  get keyCount(): number {
    return this.keyCountOwn;
  }

  /** Fetches the set now (deduplicated: concurrent callers share one fetch). Resolves true when a set was read. */
  refresh(): Promise<boolean> {
    this.inFlight ??= this.fetchSet().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** The key for one token's header, for jose's jwtVerify. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<ResolvedKey> => {
    const now = this.clock.now();
    if (!this.resolver) await this.refresh();
    else if (now - this.fetchedAt > this.options.maxAgeMs) void this.refresh();
    const resolver = this.resolver;
    if (!resolver) throw new JwksError(`no key set from ${this.url.origin} yet`, 'unavailable');
    try {
      return await resolver(header, token);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
    }
    // A key we do not know: perhaps rotated in since the last fetch. Fetch once per cool-down.
    if (now - this.unknownKidFetchAt < this.options.cooldownMs) {
      throw new JwksError(`no key "${header.kid ?? '(no kid)'}" in the set (the next look is after the ${this.options.cooldownMs} ms cool-down)`, 'unknown_key');
    }
    this.unknownKidFetchAt = now;
    await this.refresh();
    try {
      return await this.resolver!(header, token);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
      throw new JwksError(`no key "${header.kid ?? '(no kid)'}" in the set, fetched again just now`, 'unknown_key');
    }
  };

  private async fetchSet(): Promise<boolean> {
    this.fetches++;
    const { timeoutMs, maxBytes } = this.options;
    try {
      const response = await boundedFetch(this.url, { timeoutMs, maxBytes, headers: { accept: 'application/jwk-set+json, application/json' } });
      if (response.status !== 200) throw new FetchError(`HTTP ${response.status}`, 'status');
      const set = this.usableSet(parseJsonBody(response.text, 'the key set'));
      this.resolver = createLocalJWKSet(set);
      this.keyCountOwn = set.keys.length;
      this.fetchedAt = this.clock.now();
      if (this.outage) this.options.log(`JWKS ${this.url.origin}: fetched again (${set.keys.length} keys)`);
      this.outage = false;
      return true;
    } catch (err) {
      const kept = this.resolver ? `keeping the last good set (${this.keyCountOwn} keys)` : 'no set yet: JWT logins fail until one is read';
      if (!this.outage) this.options.log(`JWKS ${this.url.href}: fetch failed (${messageOf(err)}); ${kept}`);
      this.outage = true;
      return false;
    }
  }

  /** The published keys iosig will use: public asymmetric keys only, at most maxKeys. */
  private usableSet(body: unknown): JSONWebKeySet {
    if (typeof body !== 'object' || body === null || !Array.isArray((body as { keys?: unknown }).keys)) {
      throw new FetchError('the key set has no "keys" list', 'json');
    }
    const keys: JWK[] = [];
    let dropped = 0;
    for (const key of (body as { keys: unknown[] }).keys) {
      const usable =
        typeof key === 'object' &&
        key !== null &&
        ASYMMETRIC.has(String((key as JWK).kty)) &&
        !PRIVATE_MEMBERS.some((m) => m in key) &&
        ((key as JWK).use === undefined || (key as JWK).use === 'sig');
      if (usable && keys.length < this.options.maxKeys) keys.push(key as JWK);
      else dropped++;
    }
    if (keys.length === 0) throw new FetchError(`no usable public signing key in the set (${dropped} dropped)`, 'json');
    if (dropped > 0) this.options.log(`JWKS ${this.url.origin}: ${dropped} keys not used (symmetric, private, not for signing, or over ${this.options.maxKeys})`);
    return { keys };
  }
}
