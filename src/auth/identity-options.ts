// From the command line to the identity services (README, Access control, "JWT logins" and "Auth hook"): each function
// reads what the flags say and names the flag at fault when it cannot, so the server's wiring only passes values.
import { readFile } from 'node:fs/promises';
import { JwksSource, JWKS_DEFAULTS } from './jwks.js';
import { JwtVerifier, keyFromText, secretFromFile, type JwtClaimNames, type JwtKey } from './jwt.js';
import { messageOf } from './error-message.js';

/** What the `--jwt-*` flags hold (strings as given). */
export interface JwtFlags {
  /** --jwt-key <file> */
  key?: string;
  /** --jwt-secret-file <file> (else IOSIG_JWT_SECRET) */
  secretFile?: string;
  /** --jwt-jwks <url> */
  jwks?: string;
  /** --jwt-algorithms RS256,ES256 */
  algorithms?: string;
  /** --jwt-issuer <iss…> */
  issuer?: string[];
  /** --jwt-audience <aud…> */
  audience?: string[];
  /** --jwt-leeway <seconds> */
  leeway?: string;
  /** --jwt-claims did=sub,cid=cid,level=level,rights=rights */
  claims?: string;
  /** --jwt-max-level <n> */
  maxLevel?: string;
}

export const JWT_SECRET_ENV = 'IOSIG_JWT_SECRET';

const CLAIM_FIELDS: Readonly<Record<string, keyof JwtClaimNames>> = { did: 'deviceId', cid: 'cid', level: 'level', rights: 'rights' };

/** `did=device,cid=cid` → claim names; unknown fields and empty names are errors. */
export function parseClaimMap(text: string): Partial<JwtClaimNames> {
  const out: Partial<JwtClaimNames> = {};
  for (const part of text.split(',')) {
    const [field, name, extra] = part.split('=');
    const key = CLAIM_FIELDS[field?.trim() ?? ''];
    if (!key || !name || extra !== undefined) throw new Error(`--jwt-claims "${part}": expected <did|cid|level|rights>=<claim name>`);
    out[key] = name.trim();
  }
  return out;
}

function wholeNumber(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}

/** The key the flags name: exactly one of --jwt-key, --jwt-secret-file / IOSIG_JWT_SECRET, --jwt-jwks. */
async function jwtKey(flags: JwtFlags, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<JwtKey | null> {
  const envSecret = env[JWT_SECRET_ENV];
  const given = [flags.key && '--jwt-key', flags.secretFile && '--jwt-secret-file', flags.jwks && '--jwt-jwks', !flags.secretFile && envSecret && JWT_SECRET_ENV].filter(Boolean);
  if (given.length === 0) return null;
  if (given.length > 1) throw new Error(`JWT logins take one key source; given: ${given.join(', ')}`);
  if (flags.key) {
    let text: string;
    try {
      text = await readFile(flags.key, 'utf8');
    } catch (err) {
      throw new Error(`--jwt-key ${flags.key}: ${messageOf(err)}`);
    }
    return keyFromText(text, `--jwt-key ${flags.key}`);
  }
  if (flags.secretFile) {
    try {
      return await secretFromFile(flags.secretFile);
    } catch (err) {
      throw new Error(`--jwt-secret-file ${flags.secretFile}: ${messageOf(err)}`);
    }
  }
  if (flags.jwks) {
    const source = new JwksSource({ url: flags.jwks, ...JWKS_DEFAULTS, log });
    // The first fetch starts now; logins that come before it ends wait for it.
    void source.refresh();
    return { kind: 'jwks-url', source };
  }
  return { kind: 'secret', secret: new Uint8Array(Buffer.from(envSecret!, 'utf8')) };
}

/** A verifier for the flags, or null when no JWT key is configured (JWT logins off). Rejects naming the flag at fault. */
export async function openJwtVerifier(flags: JwtFlags, log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<JwtVerifier | null> {
  const key = await jwtKey(flags, env, log);
  if (key === null) {
    const stray = (['algorithms', 'issuer', 'audience', 'leeway', 'claims', 'maxLevel'] as const).filter((k) => flags[k] !== undefined);
    if (stray.length > 0) throw new Error(`--jwt-${stray[0]!.replace('maxLevel', 'max-level')} needs a key: --jwt-key, --jwt-secret-file, --jwt-jwks or ${JWT_SECRET_ENV}`);
    return null;
  }
  const algorithms = flags.algorithms?.split(',').map((a) => a.trim()).filter(Boolean);
  const verifier = new JwtVerifier({
    key,
    algorithms,
    issuer: flags.issuer,
    audience: flags.audience,
    leewaySec: wholeNumber(flags.leeway, '--jwt-leeway', 0, 3600),
    maxLevel: wholeNumber(flags.maxLevel, '--jwt-max-level', 0, 255),
    claims: flags.claims ? parseClaimMap(flags.claims) : undefined,
  });
  log(`JWT logins: ${key.kind === 'jwks-url' ? `key set ${key.source.url.href}` : key.kind}, algorithms ${verifier.algorithms.join(', ')}`);
  return verifier;
}

/** `--auth-hook-header "Name: value"` → [name, value]; a header name is a token, the value one line. */
export function parseHookHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon < 0 ? '' : text.slice(0, colon).trim();
  const value = colon < 0 ? '' : text.slice(colon + 1).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n]/.test(value)) {
    throw new Error(`--auth-hook-header "${text}": expected "<name>: <value>" on one line`);
  }
  return [name.toLowerCase(), value];
}
