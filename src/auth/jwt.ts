// JWT logins (issue 18 item 3; README, Access control, "JWT logins"), verified with jose. A token's claims give the
// device id, CID, level, expiry and, optionally, rights; the result is an ExternalIdentity the login flow admits
// like a key-store record. What is refused, always: unsigned tokens (`alg: none`), an algorithm the configured
// key is not for (algorithm confusion: an HS256 token checked against an RSA public key used as a secret), a
// signature that does not verify, `exp` in the past and `nbf` in the future (beyond the leeway), a wrong `iss`
// or `aud` when those are configured, and claims that do not make a usable identity.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from 'jose';
import { looksLikeJwt, MAX_TOKEN_BYTES } from './credentials.js';
import { checkCid, checkDeviceId, checkLevel, IdentityError, type ExternalIdentity } from './external-identity.js';
import { JwksError, type JwksSource } from './jwks.js';
import { messageOf } from './error-message.js';
import { GrantsError, parseGrants } from '../access/grants.js';
import { systemClock, type Clock } from '../clock.js';

/** What JWTs are verified with: a secret, a public key, a key set, or a key set fetched from a URL. */
export type JwtKey =
  | { kind: 'secret'; secret: Uint8Array }
  | { kind: 'public'; key: KeyObject }
  | { kind: 'jwks'; set: JSONWebKeySet }
  | { kind: 'jwks-url'; source: JwksSource };

/** Which claims carry what (`--jwt-claims`). */
export interface JwtClaimNames {
  deviceId: string;
  cid: string;
  level: string;
  rights: string;
}

/** JWT logins: the key and the checks (`--jwt-*`). */
export interface JwtOptions {
  key: JwtKey;
  /** Accepted algorithms; default (and at most) every algorithm the key is for. */
  algorithms?: readonly string[];
  /** Accepted `iss` values; none = not checked. */
  issuer?: readonly string[];
  /** Accepted `aud` values (one must be in the token); none = not checked. */
  audience?: readonly string[];
  /** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (default 30). */
  leewaySec?: number;
  /** A token without `exp` is refused (default true): a session must end some time. */
  requireExp?: boolean;
  /** Highest level a token may give (default 255). */
  maxLevel?: number;
  claims?: Partial<JwtClaimNames>;
  clock?: Clock;
}

/** Defaults of the JWT options. */
export const JWT_DEFAULTS = {
  leewaySec: 30,
  requireExp: true,
  maxLevel: 255,
  claims: { deviceId: 'sub', cid: 'cid', level: 'level', rights: 'rights' } satisfies JwtClaimNames,
} as const;

/** Why a token was refused (for the login-failure metric). */
export type JwtFailure =
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'claims'
  | 'unknown_key'
  | 'keys_unavailable'
  | 'identity';

/** A verified identity, or why the token was refused. */
export type JwtVerdict = { ok: true; identity: ExternalIdentity } | { ok: false; reason: string; code: JwtFailure };

const RSA = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const PSS = ['PS256', 'PS384', 'PS512'];
const EC_BY_CURVE: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const EDDSA = ['EdDSA', 'Ed25519'];
/** What a key set may be used with: asymmetric algorithms only (its keys are public by definition). */
export const ASYMMETRIC_ALGORITHMS = [...RSA, 'ES256', 'ES384', 'ES512', ...EDDSA];
/** HMAC needs a key at least as long as its hash (RFC 7518 §3.2). */
const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/** The algorithms a key can verify; throws for a key iosig will not use. */
export function algorithmsForKey(key: JwtKey): string[] {
  switch (key.kind) {
    case 'secret': {
      const fits = Object.keys(HMAC_MIN_BYTES).filter((alg) => key.secret.byteLength >= HMAC_MIN_BYTES[alg]!);
      if (fits.length === 0) throw new Error(`the JWT secret is ${key.secret.byteLength} bytes; HS256 needs at least 32`);
      return fits;
    }
    case 'public': {
      const k = key.key;
      switch (k.asymmetricKeyType) {
        case 'rsa':
          return [...RSA];
        case 'rsa-pss':
          return [...PSS];
        case 'ec': {
          const alg = EC_BY_CURVE[k.asymmetricKeyDetails?.namedCurve ?? ''];
          if (!alg) throw new Error(`EC curve ${k.asymmetricKeyDetails?.namedCurve ?? '?'} is not one of P-256, P-384, P-521`);
          return [alg];
        }
        case 'ed25519':
          return [...EDDSA];
        default:
          throw new Error(`a ${k.asymmetricKeyType ?? 'non-asymmetric'} key cannot verify JWTs here (RSA, EC P-256/384/521 or Ed25519)`);
      }
    }
    case 'jwks':
    case 'jwks-url':
      return [...ASYMMETRIC_ALGORITHMS];
  }
}

/** A public key from a PEM (public key or certificate) or a JWK / JWKS file. Private keys are refused. */
export function keyFromText(text: string, what: string): JwtKey {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`${what}: not valid JSON (${messageOf(err)})`);
    }
    const record = json as { keys?: unknown; kty?: unknown; d?: unknown };
    if (Array.isArray(record.keys)) {
      for (const key of record.keys as JWK[]) {
        if (key.kty === 'oct') throw new Error(`${what}: a symmetric key in a key set; give a secret with --jwt-secret-file instead`);
        if ('d' in key) throw new Error(`${what}: a private key in the key set; give only public keys`);
      }
      // Read once now, so a set jose cannot use is refused at start, not at the first login.
      createLocalJWKSet(record as JSONWebKeySet);
      return { kind: 'jwks', set: record as JSONWebKeySet };
    }
    if (record.kty === 'oct') throw new Error(`${what}: a symmetric JWK; give a secret with --jwt-secret-file instead`);
    if (record.d !== undefined) throw new Error(`${what}: a private JWK; give only the public key`);
    try {
      return { kind: 'public', key: createPublicKey({ key: record as import('node:crypto').JsonWebKey, format: 'jwk' }) };
    } catch (err) {
      throw new Error(`${what}: not a usable JWK (${messageOf(err)})`);
    }
  }
  if (/PRIVATE KEY-----/.test(trimmed)) throw new Error(`${what}: a private key; give the public key (openssl pkey -pubout) or a certificate`);
  try {
    return { kind: 'public', key: createPublicKey(trimmed) };
  } catch (err) {
    throw new Error(`${what}: not a PEM public key or certificate (${messageOf(err)})`);
  }
}

/** A secret's bytes from a file (a trailing line end is not part of it). */
export async function secretFromFile(path: string): Promise<JwtKey> {
  const bytes = await readFile(path);
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return { kind: 'secret', secret: new Uint8Array(bytes.subarray(0, end)) };
}

/** Verifies JWTs (jose) and reads their claims into an identity. */
export class JwtVerifier {
  readonly algorithms: readonly string[];
  private readonly claims: JwtClaimNames;
  private readonly clock: Clock;
  /** A static key, or a resolver that picks one of a set by the token's header. */
  private readonly keyInput: KeyObject | Uint8Array | null;
  private readonly getKey: JWTVerifyGetKey | null;

  constructor(private readonly options: JwtOptions) {
    const usable = algorithmsForKey(options.key);
    const wanted = options.algorithms ?? usable;
    const refused = wanted.filter((alg) => !usable.includes(alg));
    if (refused.length > 0) throw new Error(`JWT: the key cannot verify ${refused.join(', ')} (it is for ${usable.join(', ')})`);
    if (wanted.length === 0) throw new Error('JWT: no algorithm accepted');
    this.algorithms = [...wanted];
    this.claims = { ...JWT_DEFAULTS.claims, ...options.claims };
    this.clock = options.clock ?? systemClock;
    const key = options.key;
    this.keyInput = key.kind === 'secret' ? key.secret : key.kind === 'public' ? key.key : null;
    this.getKey = key.kind === 'jwks' ? createLocalJWKSet(key.set) : key.kind === 'jwks-url' ? key.source.getKey : null;
  }

  /** Checks one token; never rejects. */
  async verify(token: string): Promise<JwtVerdict> {
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) return fail('malformed', `the token is over ${MAX_TOKEN_BYTES} bytes`);
    if (!looksLikeJwt(token)) return fail('malformed', 'not a JWT (three base64url parts, a JSON header with alg)');
    let alg: string;
    try {
      alg = String(decodeProtectedHeader(token).alg);
    } catch (err) {
      return fail('malformed', `unreadable header (${messageOf(err)})`);
    }
    if (alg.toLowerCase() === 'none') return fail('algorithm', 'an unsigned token (alg none) is never accepted');
    if (!this.algorithms.includes(alg)) return fail('algorithm', `alg ${alg} is not accepted (accepted: ${this.algorithms.join(', ')})`);
    const checks: JWTVerifyOptions = {
      algorithms: [...this.algorithms],
      issuer: this.options.issuer ? [...this.options.issuer] : undefined,
      audience: this.options.audience ? [...this.options.audience] : undefined,
      clockTolerance: this.options.leewaySec ?? JWT_DEFAULTS.leewaySec,
      currentDate: new Date(this.clock.now()),
      requiredClaims: (this.options.requireExp ?? JWT_DEFAULTS.requireExp) ? ['exp'] : [],
    };
    let payload: JWTPayload;
    try {
      ({ payload } = this.getKey ? await jwtVerify(token, this.getKey, checks) : await jwtVerify(token, this.keyInput!, checks));
    } catch (err) {
      return refusal(err);
    }
    try {
      return { ok: true, identity: this.identityOf(payload) };
    } catch (err) {
      if (err instanceof IdentityError || err instanceof GrantsError) return fail('identity', err.message);
      throw err;
    }
  }

  private identityOf(payload: JWTPayload): ExternalIdentity {
    const c = this.claims;
    const did = checkDeviceId(payload[c.deviceId], `claim "${c.deviceId}"`);
    const cid = checkCid(payload[c.cid] ?? did, payload[c.cid] === undefined ? `claim "${c.deviceId}" used as the CID` : `claim "${c.cid}"`);
    const level = checkLevel(payload[c.level], `claim "${c.level}"`, this.options.maxLevel ?? JWT_DEFAULTS.maxLevel);
    let grants: ExternalIdentity['grants'];
    try {
      grants = parseGrants(payload[c.rights]);
    } catch (err) {
      throw new GrantsError(`claim "${c.rights}": ${messageOf(err)}`);
    }
    return { via: 'jwt', did, cid, level, grants, superuser: false, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null };
  }
}

const fail = (code: JwtFailure, reason: string): JwtVerdict => ({ ok: false, code, reason: `JWT: ${reason}` });

function refusal(err: unknown): JwtVerdict {
  if (err instanceof JwksError) return fail(err.kind === 'unavailable' ? 'keys_unavailable' : 'unknown_key', err.message);
  const { code, claim } = err as { code?: string; claim?: string };
  const message = messageOf(err);
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return fail('expired', 'expired (exp)');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return claim === 'nbf' ? fail('not_yet_valid', 'not valid yet (nbf)') : fail('claims', `claim ${claim ?? '?'}: ${message}`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return fail('signature', 'the signature does not verify');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return fail('algorithm', message);
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return fail('unknown_key', message);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return fail('malformed', message);
    default:
      // jose throws a TypeError when a key does not suit the algorithm: confusion attempts end here.
      return fail('algorithm', `the key does not suit the token (${message})`);
  }
}
