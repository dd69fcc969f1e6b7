// The access decision for sessions the broker does not hold as connections (the MQTT engine): one function
// `(identity, action, channel) → allowed`, and the filter verdict a SUBACK needs. Each identity object gets its
// subject once (kept while the object lives); a new identity object (a re-login) is a new subject.
import type { AccessControl, AccessSubject, FilterVerdict } from './engine.js';
import type { AccessDenials } from './denials.js';
import type { Grants } from './grants.js';
import type { AccessFilter } from './pattern.js';
import type { Right } from './rights.js';
import type { SubjectFacts } from './subject.js';

/** Who asks, as far as the rules care. */
export interface AccessIdentity {
  readonly cid: string;
  /** The device id of a login, '' when anonymous. */
  readonly did: string;
  readonly level: number;
  /** The client address as iosig shows it (behind a trusted proxy, the forwarded one). */
  readonly address: string;
  /** Logged in, whichever way; default: a device id is set. */
  readonly authenticated?: boolean;
  /** The device id a verified client certificate names, logged in or not. */
  readonly certificate?: string | null;
  /** Rights that came with the login (a JWT's claim, an auth hook's answer). */
  readonly grants?: Grants | null;
  readonly superuser?: boolean;
}

/**
 * `channel`: a router key (`CH:news`, `CID:D1@temp`, `PRIVATE:#lab`, `RPC:…`) or an ordinary channel name
 * (`sensors/a/temp`, as an MQTT topic names it). `send` takes `CID:<cid>@<topic>` (the target CID; the
 * publisher's own for a CID publish).
 */
export interface AccessCheck {
  (identity: AccessIdentity, action: Right, channel: string): boolean;
  /** What a subscription filter can deliver: all of it, some (check each delivery), none (refuse it). */
  filter(identity: AccessIdentity, filter: AccessFilter): FilterVerdict;
  /** Rules or session rights are in force: without, every check allows. */
  readonly configured: boolean;
}

const KEY_PREFIXES = ['CH:', 'CID:', 'PRIVATE:', 'IP:', 'RPC:'];
const keyOf = (channel: string): string => (KEY_PREFIXES.some((p) => channel.startsWith(p)) ? channel : `CH:${channel}`);

function factsOf(identity: AccessIdentity): SubjectFacts {
  return {
    authenticated: identity.authenticated ?? identity.did !== '',
    did: identity.did,
    cid: identity.cid,
    level: identity.level,
    address: identity.address,
    certificate: identity.certificate ?? null,
  };
}

/** The check over `engine`; denials are counted and logged (rate-limited) when `denials` is given. */
export function accessCheck(engine: AccessControl, denials: AccessDenials | null = null): AccessCheck {
  const subjects = new WeakMap<AccessIdentity, AccessSubject>();
  const subjectOf = (identity: AccessIdentity): AccessSubject => {
    let subject = subjects.get(identity);
    if (!subject) {
      subject = engine.subject(factsOf(identity), { grants: identity.grants ?? null, superuser: identity.superuser ?? false });
      subjects.set(identity, subject);
    }
    return subject;
  };
  const check = ((identity: AccessIdentity, action: Right, channel: string): boolean => {
    if (identity.superuser || (!engine.configured && !identity.grants)) return true;
    if (engine.allows(subjectOf(identity), action, keyOf(channel))) return true;
    denials?.record(action, `cid ${identity.cid || '-'} did ${identity.did || '-'}`, channel);
    return false;
  }) as AccessCheck;
  check.filter = (identity, filter) => engine.filterVerdict(subjectOf(identity), filter);
  Object.defineProperty(check, 'configured', { get: () => engine.configured });
  return check;
}
